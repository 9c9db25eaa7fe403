package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/rampart-dev/rampart"
)

// ServiceAction runs one of the runtime actions on the named service:
// start, stop, kill, restart or reset.
func (c *Client) ServiceAction(ctx context.Context, name, action string) (*rampart.ServiceView, error) {
	p, err := servicePath(name)
	if err != nil {
		return nil, err
	}
	var svc rampart.ServiceView
	if err := c.do(ctx, http.MethodPost, p+"/"+action, nil, &svc); err != nil {
		return nil, err
	}
	return &svc, nil
}

// SetVersion changes the software version the named service runs.
func (c *Client) SetVersion(ctx context.Context, name, version string) (*rampart.ServiceView, error) {
	p, err := servicePath(name)
	if err != nil {
		return nil, err
	}
	var svc rampart.ServiceView
	if err := c.do(ctx, http.MethodPut, p+"/version", rampart.VersionInput{Version: version}, &svc); err != nil {
		return nil, err
	}
	return &svc, nil
}

// TransferService hands a service to the account email (admins only).
func (c *Client) TransferService(ctx context.Context, name, email string) (*rampart.ServiceView, error) {
	p, err := servicePath(name)
	if err != nil {
		return nil, err
	}
	var svc rampart.ServiceView
	if err := c.do(ctx, http.MethodPost, p+"/transfer", rampart.TransferInput{Owner: email}, &svc); err != nil {
		return nil, err
	}
	return &svc, nil
}

// RestoreService restores a deleted service (backupID 0: from its final
// backup), or puts backup backupID's data in place of a live service's.
func (c *Client) RestoreService(ctx context.Context, name string, backupID int64) (*rampart.ServiceView, error) {
	p, err := servicePath(name)
	if err != nil {
		return nil, err
	}
	var svc rampart.ServiceView
	if err := c.do(ctx, http.MethodPost, p+"/restore", rampart.RestoreInput{BackupID: backupID}, &svc); err != nil {
		return nil, err
	}
	return &svc, nil
}

// ListBackups lists the named service's backups, newest first.
func (c *Client) ListBackups(ctx context.Context, name string) ([]*rampart.Backup, error) {
	p, err := servicePath(name)
	if err != nil {
		return nil, err
	}
	var out rampart.BackupList
	if err := c.do(ctx, http.MethodGet, p+"/backups", nil, &out); err != nil {
		return nil, err
	}
	return out.Backups, nil
}

// CreateBackup backs the named service up now.
func (c *Client) CreateBackup(ctx context.Context, name string) (*rampart.Backup, error) {
	p, err := servicePath(name)
	if err != nil {
		return nil, err
	}
	var b rampart.Backup
	if err := c.do(ctx, http.MethodPost, p+"/backups", nil, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// DownloadBackup writes backup id's archive to w and returns the SHA-256
// the server gives for it. The client's timeout bounds the wait for the
// answer to begin, not the download.
func (c *Client) DownloadBackup(ctx context.Context, name string, id int64, w io.Writer) (int64, string, error) {
	p, err := servicePath(name)
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.server+rampart.APIPrefix+p+"/backups/"+strconv.FormatInt(id, 10), nil)
	if err != nil {
		return 0, "", fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("User-Agent", c.ua)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	stop := func() bool { return true }
	if c.timeout > 0 {
		reqCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		req = req.WithContext(reqCtx)
		stop = time.AfterFunc(c.timeout, cancel).Stop
	}
	resp, err := c.hc.Do(req)
	stop()
	if err != nil {
		return 0, "", c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
		return 0, "", c.apiError(resp, data)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, "", fmt.Errorf("downloading backup %d of %s: %w", id, name, err)
	}
	return n, resp.Header.Get("X-Rampart-SHA256"), nil
}

// PurgeService removes a deleted service for good (admins).
func (c *Client) PurgeService(ctx context.Context, name string) error {
	p, err := servicePath(name)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, p+"/purge", nil, nil)
}
