package leadsquared

// SystemNotification is the body of LeadSquared's Converse system notification:
// a card pinned in the user's Converse pop-up.
type SystemNotification struct {
	// Type names the event: "Lead", "Opportunity", "Activity", "Task", and so on.
	Type string `json:"Type"`
	// CardContents is what the card shows.
	CardContents CardContents `json:"CardContents"`
	// ToUser is the recipient's LeadSquared user Id (a GUID).
	ToUser string `json:"ToUser"`
	// ExternalSource lets both sides trace the call (optional).
	ExternalSource *ExternalSource `json:"ExternalSource,omitempty"`
}

// CardContents is the content of a Converse notification card.
type CardContents struct {
	// Message is the card's text: required, at most 200 characters.
	Message string `json:"Message"`
	// Description is shown under the message: at most 500 characters.
	Description string `json:"Description,omitempty"`
	// CTA is an optional call to action.
	CTA *CTA `json:"CTA,omitempty"`
	// IconColorCode is the icon's background colour, e.g. "rgb(247, 79, 103, 0.9)".
	IconColorCode string `json:"IconColorCode,omitempty"`
}

// CTA is a card's call to action.
type CTA struct {
	// CTALabel is the button text: at most 120 characters.
	CTALabel string `json:"CTALabel"`
	// CTALink is an absolute http(s) URL the button opens.
	CTALink string `json:"CTALink"`
}

// ExternalSource carries a caller's reference for debugging on both sides.
type ExternalSource struct {
	// ExternalReferenceId is the caller's reference (this project sends the task ref).
	ExternalReferenceId string `json:"ExternalReferenceId,omitempty"`
	// InvocationSource names the caller, e.g. "Platform".
	InvocationSource string `json:"InvocationSource,omitempty"`
}

// SystemResult is LeadSquared's answer to a system notification.
type SystemResult struct {
	MessageID string `json:"MessageID"`
	Success   bool   `json:"Success"`
}

// PushNotification is the body of LeadSquared's push browser notification.
type PushNotification struct {
	// UserId is the recipient (a GUID); empty means the keys' owner.
	UserId string `json:"UserId,omitempty"`
	// Title is the notification's title; Title and Content together are at most 2048 bytes.
	Title string `json:"Title"`
	// Content is the notification's text.
	Content string `json:"Content"`
	// ClickURL is an absolute http(s) URL opened on click (optional).
	ClickURL string `json:"ClickURL,omitempty"`
	// IconURL is an absolute http(s) URL of the icon (optional).
	IconURL string `json:"IconURL,omitempty"`
}

// PushResult is LeadSquared's answer to a push notification.
type PushResult struct {
	Status  string `json:"Status"`
	Message struct {
		Message string `json:"Message"`
	} `json:"Message"`
}

// User is the owner of a pair of keys, as the key check reports it.
type User struct {
	Id           string `json:"Id"`
	Name         string `json:"Name"`
	FirstName    string `json:"FirstName,omitempty"`
	LastName     string `json:"LastName,omitempty"`
	EmailAddress string `json:"EmailAddress,omitempty"`
	Role         string `json:"Role"`
	OrgId        string `json:"OrgId"`
	// LSQCommonServiceURLs holds the account's hosts; "api" is the API host.
	LSQCommonServiceURLs map[string]string `json:"LSQCommonServiceURLs,omitempty"`
}

// APIHost returns the account's API host as the key check reported it, or "".
func (u *User) APIHost() string {
	if u == nil {
		return ""
	}
	return u.LSQCommonServiceURLs["api"]
}
