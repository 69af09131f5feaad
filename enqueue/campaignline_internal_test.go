package enqueue

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/lsqdispatch/lsqdispatch/tasks"
)

func TestLineParser_Parse(t *testing.T) {
	t.Parallel()
	const to = `"ToUser":"2f5508b5-f7ed-11ea-b39f-122cab85b441"`
	for _, tc := range []struct {
		name, line string
		want       string // problems, one a line; "" for a valid line
	}{
		{"Valid", `{"type":"system","ref":"r","body":{"Type":"Lead",` + to + `,"CardContents":{"Message":"m"}}}`, ""},
		{"WhitespaceAndNulls", ` { "type" : "push" , "ref":"r", "account": null, "at": null, "body" : { "Title":"t", "Content":"c", "IconURL": null } } `, ""},
		{"EscapedKeysAreExact", `{"type":"push","ref":"r","body":{"\u0054itle":"t","Content":"c"}}`, ""},
		{"EscapedStrings", `{"type":"push","ref":"r\"q","body":{"Title":"a\"}b","Content":"c\\"}}`, ""},
		{"UnknownNestedValueSkipped", `{"type":"push","ref":"r","body":{"Title":"t","Content":"c","Extra":{"a":[1,{"b":"}"}]}}}`,
			"body.Extra: unknown field"},
		{"RepeatedTopField", `{"type":"push","ref":"a","ref":"b","body":{"Title":"t","Content":"c"}}`,
			"ref: repeated field"},
		{"CaseOfTopField", `{"Type":"push","ref":"a","body":{"Title":"t","Content":"c"}}`,
			`Type: unknown field; the name is "type" (names are case-sensitive)` + "\n" + `type: required: "system" or "push"`},
		{"WrongTypes", `{"type":1,"ref":["a"],"body":"x"}`,
			"type: must be a string, not a number\nref: must be a string, not an array\nbody: must be an object, not a string"},
		{"BodyOfTheOtherKind", `{"type":"push","ref":"r","body":{"Type":"Lead",` + to + `,"CardContents":{"Message":"m"}}}`,
			"body.Type: unknown field\nbody.ToUser: unknown field\nbody.CardContents: unknown field"},
		{"NestedObjectType", `{"type":"system","ref":"r","body":{"Type":"Lead",` + to + `,"CardContents":{"Message":"m","CTA":"go"}}}`,
			"body.CardContents.CTA: must be an object, not a string"},
		{"Account", `{"type":"push","ref":"r","account":"a/b","body":{"Title":"t","Content":"c"}}`,
			`account: "a/b" is not 1 to 64 of A-Z a-z 0-9 _ . -`},
		{"NoBody", `{"type":"push","ref":"r"}`, "body: required: LeadSquared's JSON body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			p := &lineParser{account: tasks.DefaultAccount, problems: func(e LineError) {
				got = append(got, e.Field+": "+e.Reason)
			}}
			it := p.parse([]byte(tc.line), 1)
			if g := strings.Join(got, "\n"); g != tc.want {
				t.Errorf("problems:\n%s\nwant:\n%s", g, tc.want)
			}
			if (it != nil) != (tc.want == "") {
				t.Errorf("item %v with problems %q", it, got)
			}
			if it != nil && !json.Valid(it.body) {
				t.Errorf("body %s is not JSON", it.body)
			}
		})
	}
}

func TestSpool_RoundTrip(t *testing.T) {
	t.Parallel()
	sp, err := newSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.remove()
	in := []*item{
		{kind: tasks.KindSystem, meta: tasks.Meta{Account: "a", Ref: "r1"}, body: []byte(`{"x":1}`)},
		{kind: tasks.KindPush, meta: tasks.Meta{Account: "b", Ref: strings.Repeat("é", 200)}, body: []byte(`{}`)},
	}
	for i, it := range in {
		if err := sp.write(it, i+7); err != nil {
			t.Fatal(err)
		}
	}
	r, err := sp.reader()
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range in {
		got, line, err := r.read()
		if err != nil || line != i+7 || got.kind != want.kind || got.meta != want.meta || string(got.body) != string(want.body) {
			t.Errorf("record %d: %+v line %d, %v", i, got, line, err)
		}
	}
	if _, _, err := r.read(); err == nil {
		t.Error("no EOF after the last record")
	}
}
