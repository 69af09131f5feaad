package leadsquared

import (
	"strings"
	"testing"
)

// The validator runs once per notification in the producer (enqueue) and
// once per attempt in the worker, before any call is spent.

func BenchmarkSystemNotification_Validate(b *testing.B) {
	b.Run("Valid", func(b *testing.B) {
		n := validSystem()
		b.ReportAllocs()
		for b.Loop() {
			if err := n.Validate(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Minimal", func(b *testing.B) {
		n := SystemNotification{Type: "Lead", CardContents: CardContents{Message: "New lead"}, ToUser: testUserID}
		b.ReportAllocs()
		for b.Loop() {
			if err := n.Validate(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Invalid", func(b *testing.B) {
		// Every rule broken at once: the error names each problem.
		n := SystemNotification{CardContents: CardContents{Message: strings.Repeat("é", 201),
			CTA: &CTA{CTALink: "ftp://x"}}, ToUser: "not-a-guid"}
		b.ReportAllocs()
		for b.Loop() {
			if err := n.Validate(); err == nil {
				b.Fatal("want an error")
			}
		}
	})
}

func BenchmarkPushNotification_Validate(b *testing.B) {
	b.Run("Valid", func(b *testing.B) {
		n := validPush()
		b.ReportAllocs()
		for b.Loop() {
			if err := n.Validate(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Invalid", func(b *testing.B) {
		n := PushNotification{UserId: "nope", Title: strings.Repeat("x", 2048), Content: "y", ClickURL: "/relative"}
		b.ReportAllocs()
		for b.Loop() {
			if err := n.Validate(); err == nil {
				b.Fatal("want an error")
			}
		}
	})
}
