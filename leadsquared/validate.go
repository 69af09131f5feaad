package leadsquared

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Field limits LeadSquared documents for the two notification APIs.
const (
	MaxMessageChars       = 200  // CardContents.Message, in characters
	MaxDescriptionChars   = 500  // CardContents.Description, in characters
	MaxCTALabelChars      = 120  // CardContents.CTA.CTALabel, in characters
	MaxTitleContentBytes  = 2048 // Title and Content of a push, together, in bytes
	maxTypeChars          = 100
	maxIconColorCodeChars = 100
	maxRefChars           = 200
	maxURLBytes           = 2048
)

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// FieldError is one problem with one field of a body.
type FieldError struct {
	// Field is the JSON path of the field, e.g. "CardContents.Message".
	Field string
	// Reason says what is wrong and, for a limit, the limit and the value's size.
	Reason string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Reason }

// ValidationError lists every problem found in one body.
type ValidationError struct {
	Problems []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Error()
	}
	return "invalid notification: " + strings.Join(parts, "; ")
}

type problems []FieldError

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: p}
}

// Validate checks the body against LeadSquared's rules and returns a
// *ValidationError naming every problem, or nil.
func (n *SystemNotification) Validate() error {
	var p problems
	p.text("Type", n.Type, true, maxTypeChars)
	p.text("CardContents.Message", n.CardContents.Message, true, MaxMessageChars)
	p.text("CardContents.Description", n.CardContents.Description, false, MaxDescriptionChars)
	p.text("CardContents.IconColorCode", n.CardContents.IconColorCode, false, maxIconColorCodeChars)
	if cta := n.CardContents.CTA; cta != nil {
		p.text("CardContents.CTA.CTALabel", cta.CTALabel, true, MaxCTALabelChars)
		p.url("CardContents.CTA.CTALink", cta.CTALink, true)
	}
	p.guid("ToUser", n.ToUser, true)
	if es := n.ExternalSource; es != nil {
		p.text("ExternalSource.ExternalReferenceId", es.ExternalReferenceId, false, maxRefChars)
		p.text("ExternalSource.InvocationSource", es.InvocationSource, false, maxRefChars)
	}
	return p.err()
}

// Validate checks the body against LeadSquared's rules and returns a
// *ValidationError naming every problem, or nil.
func (n *PushNotification) Validate() error {
	var p problems
	p.guid("UserId", n.UserId, false)
	p.text("Title", n.Title, true, 0)
	p.text("Content", n.Content, true, 0)
	if size := len(n.Title) + len(n.Content); size > MaxTitleContentBytes {
		p.add("Title+Content", "%d bytes together, over the limit of %d bytes", size, MaxTitleContentBytes)
	}
	p.url("ClickURL", n.ClickURL, false)
	p.url("IconURL", n.IconURL, false)
	return p.err()
}

// text checks a string field: present when required, valid UTF-8, and at most
// max characters (max 0: no character limit).
func (p *problems) text(field, v string, required bool, max int) {
	switch {
	case strings.TrimSpace(v) == "":
		if required {
			p.add(field, "required")
		}
	case !utf8.ValidString(v):
		p.add(field, "not valid UTF-8")
	case max > 0 && utf8.RuneCountInString(v) > max:
		p.add(field, "%d characters, over the limit of %d", utf8.RuneCountInString(v), max)
	}
}

func (p *problems) guid(field, v string, required bool) {
	switch {
	case v == "":
		if required {
			p.add(field, "required (a LeadSquared user Id, a GUID)")
		}
	case !guidPattern.MatchString(v):
		p.add(field, "%q is not a GUID (a LeadSquared user Id looks like 2f5508b5-f7ed-11ea-b39f-122cab85b441)", truncate(v, 60))
	}
}

func (p *problems) url(field, v string, required bool) {
	if v == "" {
		if required {
			p.add(field, "required (an absolute http or https URL)")
		}
		return
	}
	if len(v) > maxURLBytes {
		p.add(field, "%d bytes, over the limit of %d", len(v), maxURLBytes)
		return
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add(field, "%q is not an absolute http or https URL", truncate(v, 60))
	}
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
