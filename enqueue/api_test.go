package enqueue_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
)

// A service that only enqueues sees only enqueueing, and what became of it
// (Status, EventReader): control is the Inspector's, so that the verbs to
// come do not grow the producer's API.
func TestClient_MethodsEnqueueOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v    any
		want []string
	}{
		{(*enqueue.Client)(nil), []string{"Campaign", "Close", "EventReader", "SendPush", "SendSystem", "Status"}},
		{(*enqueue.Inspector)(nil), []string{"CampaignStatus", "Campaigns", "Cancel", "CancelCampaign", "Close", "DeadLetters",
			"DroppedDeadLetters", "Events", "PauseCampaign", "PurgeAllDeadLetters", "PurgeDeadLetters", "ReplayAllDeadLetters",
			"ReplayDeadLetters", "Resume", "ResumeCampaign", "Stats"}},
		{(*enqueue.EventReader)(nil), []string{"Ack", "Read"}},
	} {
		typ := reflect.TypeOf(tc.v)
		var got []string
		for i := range typ.NumMethod() {
			got = append(got, typ.Method(i).Name)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s has methods %v, want %v", typ, got, tc.want)
		}
	}
}
