package tasks_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// Payload encoding runs once per notification in the producer; decoding once
// per attempt in the worker.

func benchMeta() tasks.Meta {
	return tasks.Meta{Ref: "lead-4fd84498-d53c-4de5-a540-6ac466a6aa6c", Account: tasks.DefaultAccount,
		Lane: tasks.LaneBulk, EnqueuedAt: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), Campaign: "november"}
}

func benchSystem() tasks.SystemPayload {
	return tasks.SystemPayload{Meta: benchMeta(), Body: leadsquared.SystemNotification{
		Type: "Lead",
		CardContents: leadsquared.CardContents{Message: "Lead 42 was assigned to you", Description: "Call them today",
			CTA: &leadsquared.CTA{CTALabel: "Open", CTALink: "https://example.com/leads/42"}},
		ToUser:         "2f5508b5-f7ed-11ea-b39f-122cab85b441",
		ExternalSource: &leadsquared.ExternalSource{ExternalReferenceId: "lead-4fd84498-d53c-4de5-a540-6ac466a6aa6c"},
	}}
}

func benchPush() tasks.PushPayload {
	return tasks.PushPayload{Meta: benchMeta(), Body: leadsquared.PushNotification{
		UserId: "2f5508b5-f7ed-11ea-b39f-122cab85b441", Title: "Signal 42", Content: "A lead opened your e-mail",
		ClickURL: "https://example.com/s/42"}}
}

func BenchmarkNewSystemTask(b *testing.B) {
	p := benchSystem()
	b.ReportAllocs()
	var size int
	for b.Loop() {
		t, err := tasks.NewSystemTask(p)
		if err != nil {
			b.Fatal(err)
		}
		size = len(t.Payload())
	}
	b.ReportMetric(float64(size), "payload-B")
}

func BenchmarkNewPushTask(b *testing.B) {
	p := benchPush()
	b.ReportAllocs()
	var size int
	for b.Loop() {
		t, err := tasks.NewPushTask(p)
		if err != nil {
			b.Fatal(err)
		}
		size = len(t.Payload())
	}
	b.ReportMetric(float64(size), "payload-B")
}

// BenchmarkDecodeSystemPayload decodes a payload as the worker's handler does.
func BenchmarkDecodeSystemPayload(b *testing.B) {
	t, err := tasks.NewSystemTask(benchSystem())
	if err != nil {
		b.Fatal(err)
	}
	benchDecode[tasks.SystemPayload](b, t.Payload())
}

func BenchmarkDecodePushPayload(b *testing.B) {
	t, err := tasks.NewPushTask(benchPush())
	if err != nil {
		b.Fatal(err)
	}
	benchDecode[tasks.PushPayload](b, t.Payload())
}

// benchDecode decodes data into a P each iteration.
func benchDecode[P any](b *testing.B, data []byte) {
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var p P
		if err := json.Unmarshal(data, &p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeMeta reads only the meta, as notifyctl status and the UI do.
func BenchmarkDecodeMeta(b *testing.B) {
	t, err := tasks.NewSystemTask(benchSystem())
	if err != nil {
		b.Fatal(err)
	}
	data := t.Payload()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tasks.DecodeMeta(data); err != nil {
			b.Fatal(err)
		}
	}
}
