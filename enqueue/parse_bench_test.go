package enqueue

import (
	"testing"

	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// BenchmarkLineParser_Parse measures pass 1 for one typical line.
func BenchmarkLineParser_Parse(b *testing.B) {
	line := []byte(`{"type":"system","ref":"b-42","body":{"Type":"Lead","ToUser":"2f5508b5-f7ed-11ea-b39f-122cab85b441","CardContents":{"Message":"Lead 42 was assigned to you","Description":"Call them today","CTA":{"CTALabel":"Open","CTALink":"https://example.com/leads/42"}}}}`)
	p := &lineParser{account: tasks.DefaultAccount, problems: func(e LineError) { b.Fatal(e) }}
	b.ReportAllocs()
	for b.Loop() {
		if p.parse(line, 1) == nil {
			b.Fatal("invalid")
		}
	}
}

// BenchmarkItem_Task measures building one asynq task in pass 2.
func BenchmarkItem_Task(b *testing.B) {
	it := &item{kind: tasks.KindSystem, meta: tasks.Meta{Ref: "b-42", Account: "default", Lane: tasks.LaneBulk, Campaign: "bench"},
		body: []byte(`{"Type":"Lead","ToUser":"2f5508b5-f7ed-11ea-b39f-122cab85b441","CardContents":{"Message":"Lead 42 was assigned to you"}}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := it.task(); err != nil {
			b.Fatal(err)
		}
	}
}
