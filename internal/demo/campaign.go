package demo

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// campaign is the demo's generated campaign: JSON Lines for enqueue's
// Campaign, and the sandbox scripts that make some of its notifications fail.
type campaign struct {
	jsonl []byte
	// lines is the number of lines; invalid of them are refused at enqueue.
	lines, invalid int
	// refused are the refs LeadSquared answers 400 (dead letters), flaky
	// those it answers 500 twice before accepting.
	refused, flaky []string
}

// scripts returns the sandbox scripts for the campaign's faults.
func (c *campaign) scripts() []sandbox.Script {
	var s []sandbox.Script
	for _, ref := range c.refused {
		s = append(s, sandbox.Script{Ref: ref, FirstN: 1, Status: 400})
	}
	for _, ref := range c.flaky {
		s = append(s, sandbox.Script{Ref: ref, FirstN: 2, Status: 500})
	}
	return s
}

// users are the recipients, as LeadSquared user Ids.
var users = []struct{ id, name string }{
	{"2f5508b5-f7ed-11ea-b39f-122cab85b441", "Asha Rao"},
	{"7c1e2a40-3b9d-4c1e-9a51-0d6f3e8b2c17", "Vikram Shah"},
	{"b9d04f6e-5a2c-4e8b-8f13-6c7a1d2e9f30", "Priya Nair"},
	{"0e4c8a7d-91f2-4b6a-a3c5-58d9e1f7b246", "Rahul Mehta"},
	{"5a7f3c91-2d4e-4f8b-b6a0-e1c9d8f72354", "Meera Iyer"},
	{"c3b8e6f2-7a1d-49c5-8e04-9f2b6d1a7c58", "Arjun Kapoor"},
	{"91d2a7e4-6c3b-4a8f-9d15-b7e0f4c2a869", "Sneha Kulkarni"},
	{"4e6b9c2a-8f1d-47e3-a5b0-2c9d7e1f3a64", "Karan Malhotra"},
}

// events are what the notifications say, by the LeadSquared entity they
// are about.
var events = []struct{ typ, message, description string }{
	{"Lead", "New lead assigned: %s (Pune, Home Loan)", "Source: website form. Call within 15 minutes for the best conversion."},
	{"Opportunity", "Opportunity 'Fleet renewal' for %s moved to Negotiation", "Expected value ₹ 12,40,000; close date in 9 days."},
	{"Task", "Task due in 30 minutes: call back %s", "Follow-up on the pricing question from yesterday's demo."},
	{"Activity", "%s opened the product brochure twice today", "Last seen on the EMI calculator page."},
	{"Lead", "%s asked for a callback", "Preferred time: after 6 pm."},
	{"Opportunity", "Quote accepted by %s", "Send the agreement for signature."},
}

// newCampaign builds a campaign of size lines: about one push for every two
// system notifications; when size allows, one line with a recipient that is
// no user Id (refused at enqueue), two notifications LeadSquared refuses,
// and one in 25 that fail twice before going through.
func newCampaign(size int) *campaign {
	c := &campaign{lines: size}
	invalidAt := -1
	if size >= 10 {
		invalidAt = size / 2
	}
	var buf bytes.Buffer
	for i := range size {
		ref := fmt.Sprintf("demo-%04d", i+1)
		u := users[i%len(users)]
		ev := events[i%len(events)]
		var line map[string]any
		switch {
		case i == invalidAt:
			// A mistake a producer makes: an e-mail address instead of a user Id.
			c.invalid++
			line = systemLine(ref, "asha.rao@example.com", ev.typ, fmt.Sprintf(ev.message, u.name), ev.description, i)
		case i%3 == 2:
			line = map[string]any{"type": "push", "ref": ref, "body": leadsquared.PushNotification{
				UserId: u.id, Title: fmt.Sprintf("%s: %s", ev.typ, u.name), Content: fmt.Sprintf(ev.message, u.name),
				ClickURL: fmt.Sprintf("https://crm.example.com/%s/%d", lower(ev.typ), 1000+i),
			}}
		default:
			line = systemLine(ref, u.id, ev.typ, fmt.Sprintf(ev.message, u.name), ev.description, i)
		}
		switch {
		case i == invalidAt:
		case size >= 5 && (i == size/3 || (size >= 20 && i == 2*size/3)):
			c.refused = append(c.refused, ref)
		case i%25 == 7:
			c.flaky = append(c.flaky, ref)
		}
		b, err := json.Marshal(line)
		if err != nil {
			panic(err) // maps of strings and structs always encode
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	c.jsonl = buf.Bytes()
	return c
}

func systemLine(ref, toUser, typ, message, description string, i int) map[string]any {
	n := leadsquared.SystemNotification{Type: typ, ToUser: toUser,
		CardContents: leadsquared.CardContents{Message: message, Description: description}}
	if i%2 == 0 {
		n.CardContents.CTA = &leadsquared.CTA{CTALabel: "Open " + lower(typ),
			CTALink: fmt.Sprintf("https://crm.example.com/%s/%d", lower(typ), 1000+i)}
	}
	return map[string]any{"type": "system", "ref": ref, "body": n}
}

func lower(s string) string { return string(bytes.ToLower([]byte(s))) }
