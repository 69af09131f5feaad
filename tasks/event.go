package tasks

import "time"

// EventType names what an Event tells.
type EventType string

// The event types: a notification's final outcome, or a campaign's transition.
const (
	EventDelivered    EventType = "delivered"     // LeadSquared accepted it (Reason says when unconfirmed)
	EventDeadLettered EventType = "dead_lettered" // LeadSquared refused it, or its retries ran out
	EventExpired      EventType = "expired"       // its expiry passed before a call: never sent
	EventCancelled    EventType = "cancelled"     // its campaign was cancelled before a call

	EventCampaignStarted   EventType = "campaign_started"
	EventCampaignPaused    EventType = "campaign_paused"
	EventCampaignResumed   EventType = "campaign_resumed"
	EventCampaignCancelled EventType = "campaign_cancelled"
	EventCampaignCompleted EventType = "campaign_completed" // every notification of it reached a final outcome
)

// Event is one entry of the event stream, as JSON: what became of a
// notification, or what happened to a campaign.
type Event struct {
	// ID is the stream entry's ID ("1733443200000-0"): increasing, unique.
	// It is empty until the event is read back.
	ID   string    `json:"id"`
	Type EventType `json:"type"`
	At   time.Time `json:"at"`
	// Account is the LeadSquared account of the notification or campaign.
	Account string `json:"account"`
	// Ref, Kind, MessageID and Attempt are a notification's; Campaign is set
	// for both kinds of event when a campaign is involved.
	Ref       string `json:"ref,omitempty"`
	Kind      Kind   `json:"kind,omitempty"`
	Campaign  string `json:"campaign,omitempty"`
	MessageID string `json:"message_id,omitempty"`
	Attempt   int    `json:"attempt,omitempty"`
	// Reason says why: the error of a dead letter, what was unconfirmed
	// about a delivery, who paused or cancelled a campaign.
	Reason string `json:"reason,omitempty"`
}
