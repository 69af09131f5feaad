package enqueue

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// FuzzLineParser_Parse feeds any line to the campaign-line decoder.
// Properties: no panic; a line gives an item or problems, never both nor
// neither; every problem carries the line number, a reason and a field that
// is the line, a known field, or a field it reports as unknown; the same
// line always gives the same answer; and an accepted line agrees with
// encoding/json (type, ref, account, body, the ref as the system body's
// ExternalReferenceId unless it had one, with our InvocationSource), its
// body validates, and its task
// decodes as the worker decodes it.
func FuzzLineParser_Parse(f *testing.F) {
	const to = `"ToUser":"2f5508b5-f7ed-11ea-b39f-122cab85b441"`
	for _, s := range []string{
		`{"type":"system","ref":"lead-42","body":{"Type":"Lead","CardContents":{"Message":"New lead"},` + to + `}}`,
		`{"type":"push","ref":"sig-7","account":"eu","at":"2026-01-02T15:04:05Z","body":{"UserId":"3b1041fb-8374-11e7-8758-0a106ee76b21","Title":"Hot lead","Content":"Call now"}}`,
		`{"type":"system","ref":"r","body":{"Type":"Lead","CardContents":{"Message":"m","CTA":{"CTALabel":"Open","CTALink":"https://x.example/"}},` + to + `,"ExternalSource":{"ExternalReferenceId":"own"}}}`,
		` { "type" : "push" , "ref":"r", "account": null, "at": null, "body" : { "Title":"t", "Content":"c", "IconURL": null } } `,
		`{"type":"push","ref":"r","body":{"\u0054itle":"t","Content":"c"}}`,
		`{"type":"push","ref":"a","ref":"b","body":{"Title":"t","Content":"c"}}`,
		`{"Type":"push","ref":"a","body":{"Title":"t","Content":"c","Extra":{"a":[1,{"b":"}"}]}}}`,
		`{"type":1,"ref":["a"],"body":"x","at":"yesterday","account":"a/b"}`,
		`{"":{}}`, `{"type":"push","ref":"r","body":{"Title":"t","Content":"c","a\nb":1}}`,
		`[1,2]`, `{"type":"system"`, "\xff{}", `{}`, `null`, `"x"`, `{"type":"system","ref":"r","body":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		it, problems := parseLine(line)
		it2, problems2 := parseLine(line)
		if !reflect.DeepEqual(problems, problems2) || (it == nil) != (it2 == nil) || (it != nil && !reflect.DeepEqual(*it, *it2)) {
			t.Fatalf("two parses differ: %v %v / %v %v", it, problems, it2, problems2)
		}
		if (it == nil) == (len(problems) == 0) {
			t.Fatalf("item %v with problems %v", it, problems)
		}
		for _, p := range problems {
			if p.Line != 7 || p.Field == "" || strings.TrimSpace(p.Reason) == "" {
				t.Errorf("problem %+v lacks its line (7), field or reason", p)
			}
			root, _, _ := strings.Cut(p.Field, ".")
			known := slices.Contains([]string{"line", "json", "type", "ref", "account", "at", "body"}, root)
			if !known && !strings.Contains(p.Reason, "unknown field") {
				t.Errorf("problem %+v names no known field", p)
			}
			if !strings.HasPrefix(p.Error(), "line 7: "+p.Field+": ") {
				t.Errorf("problem text %q", p.Error())
			}
			// notifyctl prints one problem a line: a field name from the
			// input must not break the line or hide in control characters.
			if strings.ContainsFunc(p.Error(), func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Errorf("problem %q holds control characters", p.Error())
			}
		}
		if it == nil {
			return
		}
		checkAgainstEncodingJSON(t, line, it)
	})
}

// parseLine parses line as line 7 of a campaign.
func parseLine(line []byte) (*item, []LineError) {
	var problems []LineError
	p := &lineParser{account: tasks.DefaultAccount, campaign: "fuzz", problems: func(e LineError) { problems = append(problems, e) }}
	return p.parse(line, 7), problems
}

// checkAgainstEncodingJSON decodes an accepted line with encoding/json, a
// decoder written independently of the campaign checker, and compares.
func checkAgainstEncodingJSON(t *testing.T, line []byte, it *item) {
	t.Helper()
	var top struct {
		Type    string          `json:"type"`
		Ref     string          `json:"ref"`
		Account *string         `json:"account"`
		At      *string         `json:"at"`
		Body    json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(line, &top); err != nil {
		t.Fatalf("accepted a line encoding/json refuses (%v): %q", err, line)
	}
	wantAccount := tasks.DefaultAccount
	if top.Account != nil {
		wantAccount = *top.Account
	}
	if string(it.kind) != top.Type || it.meta.Ref != top.Ref || it.meta.Account != wantAccount ||
		it.meta.Lane != tasks.LaneBulk || it.meta.Campaign != "fuzz" || (top.At == nil) != it.at.IsZero() {
		t.Fatalf("item %+v (kind %s, at %v) disagrees with encoding/json's %+v", it.meta, it.kind, it.at, top)
	}
	switch it.kind {
	case tasks.KindSystem:
		var in, out leadsquared.SystemNotification
		mustDecode(t, top.Body, &in)
		mustDecode(t, it.body, &out)
		if in.ExternalSource == nil || in.ExternalSource.ExternalReferenceId == "" {
			if out.ExternalSource == nil || out.ExternalSource.ExternalReferenceId != it.meta.Ref {
				t.Fatalf("the ref %q is not the body's ExternalReferenceId: %s", it.meta.Ref, it.body)
			}
			// The ref comes with our InvocationSource unless the body named one.
			if in.ExternalSource == nil || in.ExternalSource.InvocationSource == "" {
				if out.ExternalSource.InvocationSource != InvocationSource {
					t.Fatalf("InvocationSource %q, want %q", out.ExternalSource.InvocationSource, InvocationSource)
				}
				out.ExternalSource.InvocationSource = ""
			}
			out.ExternalSource.ExternalReferenceId = ""
			if in.ExternalSource == nil && *out.ExternalSource == (leadsquared.ExternalSource{}) {
				out.ExternalSource = nil
			}
		}
		if !reflect.DeepEqual(in, out) || out.Validate() != nil {
			t.Fatalf("body changed or invalid:\n in %+v\nout %+v (%v)", in, out, out.Validate())
		}
	case tasks.KindPush:
		var in, out leadsquared.PushNotification
		mustDecode(t, top.Body, &in)
		mustDecode(t, it.body, &out)
		if in != out || out.Validate() != nil {
			t.Fatalf("body changed or invalid:\n in %+v\nout %+v (%v)", in, out, out.Validate())
		}
	default:
		t.Fatalf("kind %q", it.kind)
	}
	task, err := it.task()
	if err != nil {
		t.Fatal(err)
	}
	if kind, ok := tasks.KindOf(task.Type()); !ok || kind != it.kind {
		t.Fatalf("task type %q for kind %s", task.Type(), it.kind)
	}
	meta, err := tasks.DecodeMeta(task.Payload())
	if err != nil || meta.Ref != it.meta.Ref || meta.Account != it.meta.Account {
		t.Fatalf("the task's payload %s decodes as %+v, %v", task.Payload(), meta, err)
	}
}

func mustDecode(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("encoding/json refuses an accepted body (%v): %s", err, data)
	}
}
