package enqueue

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// Limits of refs and account names.
const (
	// MaxRefChars is the longest ref, in characters. A system notification
	// carries its ref to LeadSquared as ExternalReferenceId, whose limit it is.
	MaxRefChars = 200
	// MaxAccountChars is the longest account name.
	MaxAccountChars = 64
	// InvocationSource names this project in a system notification's ExternalSource.
	InvocationSource = "lsqdispatch"
)

var accountPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// checkRef returns what is wrong with a ref, or "".
func checkRef(ref string) string {
	switch {
	case ref == "":
		return "required"
	case !utf8.ValidString(ref):
		return "not valid UTF-8"
	case utf8.RuneCountInString(ref) > MaxRefChars:
		return fmt.Sprintf("%d characters, over the limit of %d", utf8.RuneCountInString(ref), MaxRefChars)
	case strings.TrimSpace(ref) == "":
		return "blank (only spaces)"
	case strings.IndexFunc(ref, unicode.IsControl) >= 0:
		return "contains a control character (tab, newline, …)"
	}
	return ""
}

// checkAccount returns what is wrong with an account name, or "".
func checkAccount(a string) string {
	if accountPattern.MatchString(a) {
		return ""
	}
	if a == "" {
		return "required"
	}
	return fmt.Sprintf("%q is not 1 to %d of A-Z a-z 0-9 _ . -", truncate(a, 70), MaxAccountChars)
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// problems collects field errors; prefix goes before each field name.
type problems struct {
	prefix string
	list   []leadsquared.FieldError
}

func (p *problems) add(field, format string, args ...any) {
	p.list = append(p.list, leadsquared.FieldError{Field: p.prefix + field, Reason: fmt.Sprintf(format, args...)})
}

// addFrom adds the problems of a body's Validate error under prefix.
func (p *problems) addFrom(err error, prefix string) {
	if err == nil {
		return
	}
	if ve, ok := err.(*leadsquared.ValidationError); ok {
		for _, fe := range ve.Problems {
			p.list = append(p.list, leadsquared.FieldError{Field: p.prefix + prefix + fe.Field, Reason: fe.Reason})
		}
		return
	}
	p.add(strings.TrimSuffix(prefix, "."), "%v", err)
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &leadsquared.ValidationError{Problems: p.list}
}

// withRef returns the system body to send: the ref goes into
// ExternalSource.ExternalReferenceId unless the body has one. The caller's
// body is not modified.
func withRef(n leadsquared.SystemNotification, ref string) leadsquared.SystemNotification {
	es := leadsquared.ExternalSource{}
	if n.ExternalSource != nil {
		es = *n.ExternalSource
	}
	if es.ExternalReferenceId != "" {
		return n
	}
	es.ExternalReferenceId = ref
	if es.InvocationSource == "" {
		es.InvocationSource = InvocationSource
	}
	n.ExternalSource = &es
	return n
}
