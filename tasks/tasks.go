// Package tasks defines the notification tasks that travel through Redis:
// their type names, payloads, lanes and default options. It is a leaf package:
// producers and workers both import it, and it holds no keys, ever.
package tasks

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// Task type names.
const (
	TypeSystem = "lsq:system" // a Converse system notification
	TypePush   = "lsq:push"   // a push browser notification
)

// Kind is a notification kind as users name it ("system" or "push").
type Kind string

// The notification kinds.
const (
	KindSystem Kind = "system"
	KindPush   Kind = "push"
)

// TypeName returns the asynq task type for the kind.
func (k Kind) TypeName() string {
	if k == KindPush {
		return TypePush
	}
	return TypeSystem
}

// KindOf returns the kind of an asynq task type, and false for a foreign type.
func KindOf(typeName string) (Kind, bool) {
	switch typeName {
	case TypeSystem:
		return KindSystem, true
	case TypePush:
		return KindPush, true
	}
	return "", false
}

// Lane is a priority lane; each lane is one asynq queue of the same name.
type Lane string

// The lanes. Transactional work overtakes bulk work.
const (
	LaneTransactional Lane = "transactional"
	LaneBulk          Lane = "bulk"
)

// Queues maps each lane's queue to its priority, for asynq.Config.Queues.
var Queues = map[string]int{string(LaneTransactional): 10, string(LaneBulk): 1}

// DefaultAccount is the account name of the keys in LSQ_ACCESS_KEY/LSQ_SECRET_KEY.
const DefaultAccount = "default"

// Defaults shared by producers and workers.
const (
	// DefaultMaxRetry is how many failed attempts a task may have before it is archived.
	DefaultMaxRetry = 10
	// DefaultRetention is how long a delivered task, its result and its ref are kept.
	DefaultRetention = 24 * time.Hour
	// DefaultTimeout bounds one handler run, including the wait for a rate-limit slot.
	DefaultTimeout = 15 * time.Minute
)

// Meta is what every payload carries besides LeadSquared's body.
type Meta struct {
	// Ref identifies the notification: unique per account across kinds and lanes.
	Ref string `json:"ref"`
	// Account names the LeadSquared account (keys) that sends it.
	Account string `json:"account"`
	// Lane is the priority lane.
	Lane Lane `json:"lane"`
	// EnqueuedAt is when the producer enqueued it.
	EnqueuedAt time.Time `json:"enqueued_at"`
	// Campaign names the campaign it came from, if any.
	Campaign string `json:"campaign,omitempty"`
	// ExpiresAt, when set, is when the notification stops being worth
	// sending: a worker that has not called LeadSquared by then never does,
	// and records it expired.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Expired reports whether the notification's expiry has passed at now.
func (m Meta) Expired(now time.Time) bool { return m.ExpiresAt != nil && !now.Before(*m.ExpiresAt) }

// SystemPayload is the payload of a TypeSystem task: LeadSquared's body unchanged.
type SystemPayload struct {
	Meta
	Body leadsquared.SystemNotification `json:"body"`
}

// PushPayload is the payload of a TypePush task: LeadSquared's body unchanged.
type PushPayload struct {
	Meta
	Body leadsquared.PushNotification `json:"body"`
}

// TaskID is the asynq task ID of a notification: one per account and ref.
func TaskID(account, ref string) string { return account + ":" + ref }

// Options returns the default options of a task in the given lane. A bulk
// task joins its group (see Group): asynq keeps it there, in the aggregating
// state, until the worker's scheduler releases it to the bulk queue. asynq
// ignores the group of a task scheduled for later (asynq.ProcessAt): that task
// goes to the bulk queue at its time.
func Options(m Meta) []asynq.Option {
	opts := []asynq.Option{
		asynq.Queue(string(m.Lane)),
		asynq.TaskID(TaskID(m.Account, m.Ref)),
		asynq.MaxRetry(DefaultMaxRetry),
		asynq.Timeout(DefaultTimeout),
		asynq.Retention(DefaultRetention),
	}
	if m.Lane == LaneBulk {
		opts = append(opts, asynq.Group(Group(m.Account, m.Campaign)))
	}
	return opts
}

// Group names the scheduling group of a bulk notification: its account, and
// its campaign after a slash ("acme/spring-sale"); bulk notifications of no
// campaign form the account's own group ("acme"). The scheduler shares each
// account's limit between its groups.
func Group(account, campaign string) string {
	if campaign == "" {
		return account
	}
	return account + "/" + campaign
}

// GroupAccount returns the account of a group name.
func GroupAccount(group string) string {
	account, _, _ := strings.Cut(group, "/")
	return account
}

func (m Meta) check() error {
	switch {
	case m.Ref == "":
		return fmt.Errorf("tasks: ref is empty")
	case m.Account == "":
		return fmt.Errorf("tasks: account is empty")
	case m.Lane != LaneTransactional && m.Lane != LaneBulk:
		return fmt.Errorf("tasks: lane %q is not %q or %q", m.Lane, LaneTransactional, LaneBulk)
	}
	return nil
}

// NewSystemTask returns a TypeSystem task with the lane's default options;
// opts are applied after them.
func NewSystemTask(p SystemPayload, opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypeSystem, p.Meta, p, opts)
}

// NewPushTask returns a TypePush task with the lane's default options;
// opts are applied after them.
func NewPushTask(p PushPayload, opts ...asynq.Option) (*asynq.Task, error) {
	return newTask(TypePush, p.Meta, p, opts)
}

func newTask(typeName string, m Meta, payload any, opts []asynq.Option) (*asynq.Task, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("tasks: encode %s payload: %w", typeName, err)
	}
	return asynq.NewTask(typeName, data, append(Options(m), opts...)...), nil
}

// DecodeMeta reads the Meta of any notification payload.
func DecodeMeta(payload []byte) (Meta, error) {
	var m Meta
	if err := json.Unmarshal(payload, &m); err != nil {
		return m, fmt.Errorf("tasks: decode payload: %w", err)
	}
	return m, m.check()
}

// Result is what a worker writes as a delivered task's result (asynq's
// ResultWriter): what `notifyctl status` and asynqmon show.
type Result struct {
	// MessageID is LeadSquared's MessageID (system notifications).
	MessageID string `json:"message_id,omitempty"`
	// Message is LeadSquared's answer text (push notifications).
	Message string `json:"message,omitempty"`
	// DeliveredAt is when LeadSquared accepted the call.
	DeliveredAt time.Time `json:"delivered_at"`
	// Attempt is the attempt that succeeded (1 is the first).
	Attempt int `json:"attempt"`
	// Expired is true when the notification expired before it was sent:
	// LeadSquared was not called, and DeliveredAt is when it was dropped.
	Expired bool `json:"expired,omitempty"`
	// Cancelled is true when the notification's campaign was cancelled
	// before it was sent: LeadSquared was not called, and its ref is free.
	Cancelled bool `json:"cancelled,omitempty"`
	// Unconfirmed, when set, says why the delivery is not confirmed:
	// LeadSquared answered 2xx with a body that is not its answer, or that
	// was cut short. It most likely delivered the notification; it was not
	// sent again.
	Unconfirmed string `json:"unconfirmed,omitempty"`
}

// ArchivedRetention is how long Redis keeps a dead-lettered task (asynq keeps
// archived tasks 90 days); its ref stays claimed as long.
const ArchivedRetention = 90 * 24 * time.Hour

// DeadLetter is the record a worker keeps of every task it dead-letters,
// beside asynq's archive: asynq keeps at most 10,000 archived tasks a queue
// and drops the oldest past that, silently; the record stays for
// ArchivedRetention, so that no dead letter vanishes from `notifyctl dlq
// list` and status.
type DeadLetter struct {
	// ID is the asynq task ID, TaskID(Account, Ref); Queue its queue.
	ID    string `json:"id"`
	Queue string `json:"queue"`
	Kind  Kind   `json:"kind"`
	// Ref, Account and Campaign come from the payload.
	Ref      string `json:"ref"`
	Account  string `json:"account"`
	Campaign string `json:"campaign,omitempty"`
	// Reason is the task's last error, as asynq keeps it.
	Reason   string    `json:"reason"`
	FailedAt time.Time `json:"failed_at"`
	// Attempts is the number of failed attempts before this last one.
	Attempts int `json:"attempts"`
}
