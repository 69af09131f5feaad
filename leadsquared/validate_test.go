package leadsquared

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const testUserID = "2f5508b5-f7ed-11ea-b39f-122cab85b441"

// validSystem returns a system notification that uses every field.
func validSystem() SystemNotification {
	return SystemNotification{
		Type: "Lead",
		CardContents: CardContents{
			Message:       "New Lead Assigned .",
			Description:   "Lead submitted the form in our campaign page.",
			CTA:           &CTA{CTALabel: "View Lead", CTALink: "https://us11.leadsquared.com/LeadManagement/LeadDetails?LeadID=4fd84498-d53c-4de5-a540-6ac466a6aa6c&pageNumber=1"},
			IconColorCode: "rgb(247, 79, 103, 0.9)",
		},
		ToUser:         testUserID,
		ExternalSource: &ExternalSource{ExternalReferenceId: "190781237", InvocationSource: "Platform"},
	}
}

// validPush returns a push notification that uses every field.
func validPush() PushNotification {
	return PushNotification{
		UserId:   "3b1041fb-8374-11e7-8758-0a106ee76b21",
		Title:    "LeadSquared Signals",
		Content:  "You may want to call this lead while it remains hot!",
		ClickURL: "https://app.leadsquared.com/LeadManagement/LeadDetails?LeadID=1",
		IconURL:  "https://example.com/icon.png",
	}
}

// problem is an expected FieldError: the exact field and a part of the reason.
type problem struct{ field, reason string }

// checkProblems asserts that err is a *ValidationError listing exactly want,
// in order, or nil when want is empty.
func checkProblems(t *testing.T, err error, want []problem) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("Validate() = %v, want nil", err)
		}
		return
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate() = %v (%T), want *ValidationError", err, err)
	}
	var gotFields, wantFields []string
	for _, p := range ve.Problems {
		gotFields = append(gotFields, p.Field)
	}
	for _, p := range want {
		wantFields = append(wantFields, p.field)
	}
	if !reflect.DeepEqual(gotFields, wantFields) {
		t.Fatalf("problem fields = %q, want %q (error: %v)", gotFields, wantFields, err)
	}
	for i, p := range ve.Problems {
		if !strings.Contains(p.Reason, want[i].reason) {
			t.Errorf("problem %s: reason %q does not contain %q", p.Field, p.Reason, want[i].reason)
		}
	}
}

func TestSystemNotification_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*SystemNotification)
		want   []problem
	}{
		{"Full", func(*SystemNotification) {}, nil},
		{"Minimal", func(n *SystemNotification) {
			n.CardContents = CardContents{Message: "hi"}
			n.ExternalSource = nil
		}, nil},
		{"Message200ASCII", func(n *SystemNotification) { n.CardContents.Message = strings.Repeat("a", 200) }, nil},
		{"Message201ASCII", func(n *SystemNotification) { n.CardContents.Message = strings.Repeat("a", 201) },
			[]problem{{"CardContents.Message", "201 characters, over the limit of 200"}}},
		{"Message200Accented", func(n *SystemNotification) { n.CardContents.Message = strings.Repeat("é", 200) }, nil},
		{"Message201Accented", func(n *SystemNotification) { n.CardContents.Message = strings.Repeat("é", 201) },
			[]problem{{"CardContents.Message", "201 characters"}}},
		{"Message200Emoji", func(n *SystemNotification) { n.CardContents.Message = strings.Repeat("🚀", 200) }, nil},
		{"Message201Emoji", func(n *SystemNotification) { n.CardContents.Message = strings.Repeat("🚀", 201) },
			[]problem{{"CardContents.Message", "201 characters"}}},
		{"MessageEmpty", func(n *SystemNotification) { n.CardContents.Message = "" },
			[]problem{{"CardContents.Message", "required"}}},
		{"MessageBlank", func(n *SystemNotification) { n.CardContents.Message = " \t\n" },
			[]problem{{"CardContents.Message", "required"}}},
		{"MessageInvalidUTF8", func(n *SystemNotification) { n.CardContents.Message = "bad \xff byte" },
			[]problem{{"CardContents.Message", "not valid UTF-8"}}},
		{"Description500", func(n *SystemNotification) { n.CardContents.Description = strings.Repeat("ü", 500) }, nil},
		{"Description501", func(n *SystemNotification) { n.CardContents.Description = strings.Repeat("ü", 501) },
			[]problem{{"CardContents.Description", "501 characters, over the limit of 500"}}},
		{"DescriptionEmpty", func(n *SystemNotification) { n.CardContents.Description = "" }, nil},
		{"CTALabel120", func(n *SystemNotification) { n.CardContents.CTA.CTALabel = strings.Repeat("x", 120) }, nil},
		{"CTALabel121", func(n *SystemNotification) { n.CardContents.CTA.CTALabel = strings.Repeat("x", 121) },
			[]problem{{"CardContents.CTA.CTALabel", "121 characters, over the limit of 120"}}},
		{"CTALabel120Emoji", func(n *SystemNotification) { n.CardContents.CTA.CTALabel = strings.Repeat("👍", 120) }, nil},
		{"CTALabelEmpty", func(n *SystemNotification) { n.CardContents.CTA.CTALabel = "" },
			[]problem{{"CardContents.CTA.CTALabel", "required"}}},
		{"CTALinkEmpty", func(n *SystemNotification) { n.CardContents.CTA.CTALink = "" },
			[]problem{{"CardContents.CTA.CTALink", "required"}}},
		{"CTALinkHTTP", func(n *SystemNotification) { n.CardContents.CTA.CTALink = "http://example.com/x" }, nil},
		{"CTALinkOtherHost", func(n *SystemNotification) { n.CardContents.CTA.CTALink = "https://crm.example.org/a?b=c" }, nil},
		{"CTALinkRelative", func(n *SystemNotification) { n.CardContents.CTA.CTALink = "/LeadManagement/LeadDetails" },
			[]problem{{"CardContents.CTA.CTALink", "not an absolute http or https URL"}}},
		{"CTALinkJavaScript", func(n *SystemNotification) { n.CardContents.CTA.CTALink = "javascript:alert(1)" },
			[]problem{{"CardContents.CTA.CTALink", "not an absolute http or https URL"}}},
		{"CTALinkNoHost", func(n *SystemNotification) { n.CardContents.CTA.CTALink = "https://" },
			[]problem{{"CardContents.CTA.CTALink", "not an absolute http or https URL"}}},
		{"CTALink2048Bytes", func(n *SystemNotification) {
			n.CardContents.CTA.CTALink = "https://example.com/" + strings.Repeat("a", 2048-len("https://example.com/"))
		}, nil},
		{"CTALink2049Bytes", func(n *SystemNotification) {
			n.CardContents.CTA.CTALink = "https://example.com/" + strings.Repeat("a", 2049-len("https://example.com/"))
		}, []problem{{"CardContents.CTA.CTALink", "2049 bytes, over the limit of 2048"}}},
		{"ToUserEmpty", func(n *SystemNotification) { n.ToUser = "" },
			[]problem{{"ToUser", "required"}}},
		{"ToUserUpperCase", func(n *SystemNotification) { n.ToUser = strings.ToUpper(testUserID) }, nil},
		{"ToUserNotGUID", func(n *SystemNotification) { n.ToUser = "jane@example.com" },
			[]problem{{"ToUser", "is not a GUID"}}},
		{"ToUserBraces", func(n *SystemNotification) { n.ToUser = "{" + testUserID + "}" },
			[]problem{{"ToUser", "is not a GUID"}}},
		{"ToUserShort", func(n *SystemNotification) { n.ToUser = testUserID[:35] },
			[]problem{{"ToUser", "is not a GUID"}}},
		{"ToUserNonHex", func(n *SystemNotification) { n.ToUser = "2f5508b5-f7ed-11ea-b39f-122cab85b44g" },
			[]problem{{"ToUser", "is not a GUID"}}},
		{"TypeEmpty", func(n *SystemNotification) { n.Type = "" },
			[]problem{{"Type", "required"}}},
		{"Type101", func(n *SystemNotification) { n.Type = strings.Repeat("t", 101) },
			[]problem{{"Type", "over the limit of 100"}}},
		{"IconColorCode101", func(n *SystemNotification) { n.CardContents.IconColorCode = strings.Repeat("c", 101) },
			[]problem{{"CardContents.IconColorCode", "over the limit of 100"}}},
		{"ExternalReferenceId201", func(n *SystemNotification) { n.ExternalSource.ExternalReferenceId = strings.Repeat("r", 201) },
			[]problem{{"ExternalSource.ExternalReferenceId", "over the limit of 200"}}},
		{"InvocationSource201", func(n *SystemNotification) { n.ExternalSource.InvocationSource = strings.Repeat("s", 201) },
			[]problem{{"ExternalSource.InvocationSource", "over the limit of 200"}}},
		{"AllAtOnce", func(n *SystemNotification) {
			*n = SystemNotification{
				CardContents: CardContents{
					Message:       strings.Repeat("m", 201),
					Description:   strings.Repeat("d", 501),
					CTA:           &CTA{CTALabel: strings.Repeat("l", 121), CTALink: "ftp://example.com"},
					IconColorCode: strings.Repeat("c", 101),
				},
				ToUser:         "nobody",
				ExternalSource: &ExternalSource{ExternalReferenceId: strings.Repeat("r", 201), InvocationSource: strings.Repeat("s", 201)},
			}
		}, []problem{
			{"Type", "required"},
			{"CardContents.Message", "201 characters"},
			{"CardContents.Description", "501 characters"},
			{"CardContents.IconColorCode", "101 characters"},
			{"CardContents.CTA.CTALabel", "121 characters"},
			{"CardContents.CTA.CTALink", "not an absolute http or https URL"},
			{"ToUser", "is not a GUID"},
			{"ExternalSource.ExternalReferenceId", "201 characters"},
			{"ExternalSource.InvocationSource", "201 characters"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := validSystem()
			n.CardContents.CTA = &CTA{CTALabel: n.CardContents.CTA.CTALabel, CTALink: n.CardContents.CTA.CTALink}
			n.ExternalSource = &ExternalSource{ExternalReferenceId: n.ExternalSource.ExternalReferenceId, InvocationSource: n.ExternalSource.InvocationSource}
			tt.mutate(&n)
			checkProblems(t, n.Validate(), tt.want)
		})
	}
}

func TestPushNotification_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*PushNotification)
		want   []problem
	}{
		{"Full", func(*PushNotification) {}, nil},
		{"Minimal", func(n *PushNotification) { *n = PushNotification{Title: "t", Content: "c"} }, nil},
		{"UserIdEmptyMeansKeysOwner", func(n *PushNotification) { n.UserId = "" }, nil},
		{"UserIdNotGUID", func(n *PushNotification) { n.UserId = "42" },
			[]problem{{"UserId", "is not a GUID"}}},
		{"TitleEmpty", func(n *PushNotification) { n.Title = "" },
			[]problem{{"Title", "required"}}},
		{"ContentBlank", func(n *PushNotification) { n.Content = "  " },
			[]problem{{"Content", "required"}}},
		{"TitleInvalidUTF8", func(n *PushNotification) { n.Title = "\xc3" },
			[]problem{{"Title", "not valid UTF-8"}}},
		{"TitleContent2048ASCII", func(n *PushNotification) {
			n.Title, n.Content = strings.Repeat("t", 48), strings.Repeat("c", 2000)
		}, nil},
		{"TitleContent2049ASCII", func(n *PushNotification) {
			n.Title, n.Content = strings.Repeat("t", 49), strings.Repeat("c", 2000)
		}, []problem{{"Title+Content", "2049 bytes together, over the limit of 2048 bytes"}}},
		// 1,024 "é" are 1,024 characters but 2,048 bytes: the limit is in bytes.
		{"TitleContent2048Accented", func(n *PushNotification) {
			n.Title, n.Content = "é", strings.Repeat("é", 1023)
		}, nil},
		{"TitleContent2049Accented", func(n *PushNotification) {
			n.Title, n.Content = "é", strings.Repeat("é", 1023)+"!"
		}, []problem{{"Title+Content", "2049 bytes together"}}},
		{"TitleContent2048Emoji", func(n *PushNotification) {
			n.Title, n.Content = "🔔", strings.Repeat("🚀", 511)
		}, nil},
		{"TitleContent2052Emoji", func(n *PushNotification) {
			n.Title, n.Content = "🔔", strings.Repeat("🚀", 512)
		}, []problem{{"Title+Content", "2052 bytes together"}}},
		{"ClickURLInvalid", func(n *PushNotification) { n.ClickURL = "www.example.com" },
			[]problem{{"ClickURL", "not an absolute http or https URL"}}},
		{"IconURLInvalid", func(n *PushNotification) { n.IconURL = "data:image/png;base64,AAAA" },
			[]problem{{"IconURL", "not an absolute http or https URL"}}},
		{"URLsEmpty", func(n *PushNotification) { n.ClickURL, n.IconURL = "", "" }, nil},
		{"AllAtOnce", func(n *PushNotification) {
			*n = PushNotification{UserId: "x", Title: strings.Repeat("t", 2049), ClickURL: "mailto:a@b.c", IconURL: "icon.png"}
		}, []problem{
			{"UserId", "is not a GUID"},
			{"Content", "required"},
			{"Title+Content", "2049 bytes together"},
			{"ClickURL", "not an absolute"},
			{"IconURL", "not an absolute"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := validPush()
			tt.mutate(&n)
			checkProblems(t, n.Validate(), tt.want)
		})
	}
}

func TestValidationError_Error(t *testing.T) {
	t.Parallel()
	err := (&PushNotification{UserId: "x"}).Validate()
	want := `invalid notification: UserId: "x" is not a GUID (a LeadSquared user Id looks like 2f5508b5-f7ed-11ea-b39f-122cab85b441); Title: required; Content: required`
	if err == nil || err.Error() != want {
		t.Fatalf("Error() = %v, want %q", err, want)
	}
	if got := Classify(err); got != KindPermanent {
		t.Errorf("Classify = %v, want permanent", got)
	}
}
