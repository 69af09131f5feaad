// Package leadsquared is a typed client for LeadSquared's two user-notification
// APIs: the Converse system notification and the push browser notification.
//
// # Bodies
//
// [SystemNotification] and [PushNotification] carry LeadSquared's exact JSON
// field names. Validate checks them against LeadSquared's documented limits
// before a call spends any of the account's rate budget, and reports every
// problem of a body at once as a [*ValidationError].
//
// # Client
//
// [NewClient] builds a [Client] for a region ("sg", "us11", "in21", "in22",
// "ir31", "ca12") or an explicit base URL (https, or http on loopback for the
// sandbox). [Client.SendSystem] and [Client.SendPush] validate the body, make
// one call and return LeadSquared's MessageID or message; [Client.CheckKeys]
// asks whom the keys belong to. Every call takes a context and a per-call
// timeout, reuses connections, and never follows redirects (they would carry
// the key headers elsewhere). The Converse system notification's path is
// published only as an image: [DefaultSystemNotificationPath] is a
// placeholder to check against the account's API docs.
//
// # Errors
//
// Every failed call returns an [*Error] whose [Kind] says what the caller
// should do: retry later ([KindTransient], [KindRateLimited]), give up
// ([KindPermanent]) or fix the configuration ([KindCredentials],
// [KindConfiguration]), or treat the notification as maybe delivered
// ([KindUnconfirmed]: a 2xx whose body is not LeadSquared's answer, or was
// cut short; sending it again may deliver it twice). [Classify] maps any
// error to a Kind.
//
// # Secrets
//
// Keys travel only in the x-LSQ-AccessKey and x-LSQ-SecretKey headers. No
// error, URL or log line produced by this package contains a key.
//
// The package imports no queue code: any Go program can use it alone.
package leadsquared
