package leadsquared

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const fuzzGUID = "2f5508b5-f7ed-11ea-b39f-122cab85b441"

// jsonFields lists the JSON paths of a body's string fields
// ("CardContents.CTA.CTALink"), the names Validate's problems must use.
func jsonFields(t reflect.Type, prefix string, out map[string]bool) map[string]bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			jsonFields(ft, prefix+name+".", out)
		} else {
			out[prefix+name] = true
		}
	}
	return out
}

var (
	systemFields = jsonFields(reflect.TypeFor[SystemNotification](), "", map[string]bool{})
	pushFields   = jsonFields(reflect.TypeFor[PushNotification](), "", map[string]bool{})
)

// problemFields checks err's shape (nil, or a *ValidationError naming real
// fields, each with a reason, all in its text) and returns the named fields.
func problemFields(t *testing.T, err error, fields map[string]bool) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) == 0 {
		t.Fatalf("Validate returned %T %v, want a *ValidationError with problems", err, err)
	}
	var names []string
	for _, p := range ve.Problems {
		// "Title+Content" names two fields at once.
		for _, part := range strings.Split(p.Field, "+") {
			if !fields[part] {
				t.Errorf("problem names %q, which is not a field (fields: %v)", p.Field, fields)
			}
		}
		if strings.TrimSpace(p.Reason) == "" {
			t.Errorf("problem of %s has no reason", p.Field)
		}
		if !strings.Contains(err.Error(), p.Field+": ") {
			t.Errorf("error text %q leaves out %s", err, p.Field)
		}
		names = append(names, p.Field)
	}
	return names
}

// FuzzSystemNotification_Validate: Validate never panics, its problems
// name real fields, fixing exactly the named fields makes the body valid
// (nothing wrong goes unnamed), and each named field alone, put back into
// the fixed body, is named again (nothing is named wrongly).
func FuzzSystemNotification_Validate(f *testing.F) {
	f.Add("Lead", "New lead", "", "", false, "", "", fuzzGUID, false, "", "")
	f.Add("", " ", strings.Repeat("d", 501), "rgb(1,2,3)", true, "", "ftp://x", "not-a-guid", true, strings.Repeat("r", 201), "Platform")
	f.Add("Task", strings.Repeat("é", 201), "ok", "", true, "Open", "https://example.com/a?b=c", strings.ToUpper(fuzzGUID), true, "lead-42", "")
	f.Add("Lead", "\xff", "", "", true, strings.Repeat("l", 121), "http://", "", false, "", "")
	f.Fuzz(func(t *testing.T, typ, msg, desc, icon string, hasCTA bool, label, link, toUser string, hasExt bool, extRef, inv string) {
		orig := SystemNotification{Type: typ, ToUser: toUser,
			CardContents: CardContents{Message: msg, Description: desc, IconColorCode: icon}}
		if hasCTA {
			orig.CardContents.CTA = &CTA{CTALabel: label, CTALink: link}
		}
		if hasExt {
			orig.ExternalSource = &ExternalSource{ExternalReferenceId: extRef, InvocationSource: inv}
		}
		named := problemFields(t, orig.Validate(), systemFields)
		fixed := copySystem(orig)
		for _, field := range named {
			setSystem(t, &fixed, &SystemNotification{Type: "Lead", ToUser: fuzzGUID,
				CardContents:   CardContents{Message: "m", CTA: &CTA{CTALabel: "Open", CTALink: "https://example.com/"}},
				ExternalSource: &ExternalSource{}}, field)
		}
		if err := fixed.Validate(); err != nil {
			t.Fatalf("fixing the named fields %v leaves problems: %v", named, err)
		}
		for _, field := range named {
			back := copySystem(fixed)
			setSystem(t, &back, &orig, field)
			if got := problemFields(t, back.Validate(), systemFields); !contains(got, field) {
				t.Errorf("%s alone is not named again (named %v)", field, got)
			}
		}
	})
}

func copySystem(n SystemNotification) SystemNotification {
	if n.CardContents.CTA != nil {
		c := *n.CardContents.CTA
		n.CardContents.CTA = &c
	}
	if n.ExternalSource != nil {
		e := *n.ExternalSource
		n.ExternalSource = &e
	}
	return n
}

// setSystem copies one field from src to dst.
func setSystem(t *testing.T, dst, src *SystemNotification, field string) {
	t.Helper()
	switch field {
	case "Type":
		dst.Type = src.Type
	case "ToUser":
		dst.ToUser = src.ToUser
	case "CardContents.Message":
		dst.CardContents.Message = src.CardContents.Message
	case "CardContents.Description":
		dst.CardContents.Description = src.CardContents.Description
	case "CardContents.IconColorCode":
		dst.CardContents.IconColorCode = src.CardContents.IconColorCode
	case "CardContents.CTA.CTALabel":
		dst.CardContents.CTA.CTALabel = src.CardContents.CTA.CTALabel
	case "CardContents.CTA.CTALink":
		dst.CardContents.CTA.CTALink = src.CardContents.CTA.CTALink
	case "ExternalSource.ExternalReferenceId":
		dst.ExternalSource.ExternalReferenceId = src.ExternalSource.ExternalReferenceId
	case "ExternalSource.InvocationSource":
		dst.ExternalSource.InvocationSource = src.ExternalSource.InvocationSource
	default:
		t.Fatalf("the test does not know field %q", field)
	}
}

// FuzzPushNotification_Validate: as FuzzSystemNotification_Validate, for
// push notifications.
func FuzzPushNotification_Validate(f *testing.F) {
	f.Add("", "Hot lead", "Call now", "", "")
	f.Add(fuzzGUID, "", " ", "javascript:alert(1)", "https://cdn.example.com/i.png")
	f.Add("nope", strings.Repeat("t", 1024), strings.Repeat("c", 1025), "https://"+strings.Repeat("h", 2048), "//host/x")
	f.Add(fuzzGUID, "\xc3", "x", "http://a", "")
	f.Fuzz(func(t *testing.T, user, title, content, click, icon string) {
		orig := PushNotification{UserId: user, Title: title, Content: content, ClickURL: click, IconURL: icon}
		named := problemFields(t, orig.Validate(), pushFields)
		good := PushNotification{Title: "t", Content: "c"}
		fixed := orig
		for _, field := range named {
			setPush(t, &fixed, &good, field)
		}
		if err := fixed.Validate(); err != nil {
			t.Fatalf("fixing the named fields %v leaves problems: %v", named, err)
		}
		for _, field := range named {
			back := fixed
			setPush(t, &back, &orig, field)
			if got := problemFields(t, back.Validate(), pushFields); !contains(got, field) {
				t.Errorf("%s alone is not named again (named %v)", field, got)
			}
		}
	})
}

func setPush(t *testing.T, dst, src *PushNotification, field string) {
	t.Helper()
	switch field {
	case "UserId":
		dst.UserId = src.UserId
	case "Title":
		dst.Title = src.Title
	case "Content":
		dst.Content = src.Content
	case "Title+Content":
		dst.Title, dst.Content = src.Title, src.Content
	case "ClickURL":
		dst.ClickURL = src.ClickURL
	case "IconURL":
		dst.IconURL = src.IconURL
	default:
		t.Fatalf("the test does not know field %q", field)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
