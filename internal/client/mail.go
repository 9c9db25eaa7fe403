package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/rampart-dev/rampart"
)

// MailSettings returns how the named service sends mail through the relay.
func (c *Client) MailSettings(ctx context.Context, service string) (*rampart.MailSettings, error) {
	return c.mailCall(ctx, http.MethodGet, service, "", nil)
}

// MailCredentials returns the service's SMTP login. The password is set
// only when this call made it: the first time, or with rotate.
func (c *Client) MailCredentials(ctx context.Context, service string, rotate bool) (*rampart.MailCredentials, error) {
	p, err := servicePath(service)
	if err != nil {
		return nil, err
	}
	var creds rampart.MailCredentials
	if err := c.do(ctx, http.MethodPost, p+"/mail/credentials", rampart.MailCredentialsInput{Rotate: rotate}, &creds); err != nil {
		return nil, err
	}
	return &creds, nil
}

// SuspendMail stops the service's mail until ResumeMail (admins).
func (c *Client) SuspendMail(ctx context.Context, service, reason string) (*rampart.MailSettings, error) {
	return c.mailCall(ctx, http.MethodPost, service, "/suspend", rampart.MailSuspendInput{Reason: reason})
}

// ResumeMail lifts a suspension (admins).
func (c *Client) ResumeMail(ctx context.Context, service string) (*rampart.MailSettings, error) {
	return c.mailCall(ctx, http.MethodPost, service, "/resume", nil)
}

// SetMailQuota sets the service's quota in recipients per hour; 0 returns
// to the default (admins).
func (c *Client) SetMailQuota(ctx context.Context, service string, perHour int) (*rampart.MailSettings, error) {
	return c.mailCall(ctx, http.MethodPut, service, "/quota", rampart.MailQuotaInput{PerHour: &perHour})
}

func (c *Client) mailCall(ctx context.Context, method, service, sub string, in any) (*rampart.MailSettings, error) {
	p, err := servicePath(service)
	if err != nil {
		return nil, err
	}
	var st rampart.MailSettings
	if err := c.do(ctx, method, p+"/mail"+sub, in, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// MailLog returns a page of the service's mail log, oldest first: the
// newest limit messages when after is 0, else those after that ID (limit
// 0: the server's default).
func (c *Client) MailLog(ctx context.Context, service string, after int64, limit int) ([]*rampart.MailMessage, error) {
	p, err := servicePath(service)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if after > 0 {
		q.Set("after", strconv.FormatInt(after, 10))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := p + "/mail/messages"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out rampart.MailMessageList
	if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return out.Messages, nil
}

// MailDNS returns the mail domain's DNS records and whether each is
// published (admins).
func (c *Client) MailDNS(ctx context.Context) ([]rampart.MailDNSRecord, error) {
	var out rampart.MailDNSList
	if err := c.do(ctx, http.MethodGet, "mail/dns", nil, &out); err != nil {
		return nil, err
	}
	return out.Records, nil
}

// MailFlush retries every deferred message of the relay's queue now
// (admins).
func (c *Client) MailFlush(ctx context.Context) (*rampart.MailQueue, error) {
	var out rampart.MailQueue
	if err := c.do(ctx, http.MethodPost, "mail/flush", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
