package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/rampart-dev/rampart"
)

// The Security tab's "Manage SSH Keys" row. A key there logs in to the
// machine every account shares, so only admins see and change the list
// (app.SSHKeys refuses members). As with the firewall, the routes are under
// the service whose tab shows the row.
//
// A refused paste is never written back into the page: it may be a private
// key pasted by mistake, and the app's message names the line at fault
// without quoting it. The title is kept; the textarea comes back empty.

// sshKeysView is the row of an admin's Security tab.
type sshKeysView struct {
	List *rampart.SSHKeyList
	Add  sshKeyForm
	Open bool
}

// sshKeyForm is the add form. It never holds the pasted key.
type sshKeyForm struct {
	Title              string
	TitleErr, KeyErr   string
	Err                string
	PastedKeyDiscarded bool // a paste was refused and is not shown again
}

// sshKeysFor gathers the row; nil for members.
func (s *server) sshKeysFor(ctx context.Context, rc *reqCtx, open bool) (*sshKeysView, error) {
	if !rc.user.IsAdmin() {
		return nil, nil
	}
	list, err := s.app.SSHKeys.List(ctx, rc.actor)
	if err != nil {
		return nil, err
	}
	return &sshKeysView{List: list, Open: open}, nil
}

// sshKeysService is firewallService for the SSH keys row.
func (s *server) sshKeysService(w http.ResponseWriter, r *http.Request, rc *reqCtx) (*rampart.Service, bool) {
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return nil, false
	}
	if !rc.user.IsAdmin() {
		s.fail(w, r, rc, rampart.Errorf(rampart.EFORBIDDEN, "only an admin can manage SSH keys: a key logs in to the machine that every account shares"))
		return nil, false
	}
	return svc, true
}

func (s *server) addSSHKey(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, ok := s.sshKeysService(w, r, rc)
	if !ok {
		return
	}
	in := rampart.SSHKeyInput{Title: strings.TrimSpace(r.PostFormValue("title")), PublicKey: r.PostFormValue("public_key")}
	k, err := s.app.SSHKeys.Add(r.Context(), rc.actor, in)
	if err == nil {
		msg := "SSH key " + k.Title + " added (" + k.Fingerprint + ")."
		if list, lerr := s.app.SSHKeys.List(r.Context(), rc.actor); lerr == nil && !list.Status.Enforced {
			msg += " Plan only: nothing on this server changes until ssh.manage_authorized_keys is on."
		}
		s.setFlash(w, rc.sess, "success", msg)
		http.Redirect(w, r, servicePath(svc.Name, "security")+"&open=ssh-keys#ssh-keys", http.StatusSeeOther)
		return
	}
	code := rampart.ErrorCode(err)
	if code == rampart.EINTERNAL || code == rampart.EUNAUTHORIZED || code == rampart.EFORBIDDEN {
		s.fail(w, r, rc, err)
		return
	}
	msgs := rampart.FieldMessages(err)
	f := sshKeyForm{
		Title: in.Title, TitleErr: msgs["title"], KeyErr: msgs["public_key"], Err: otherMessages(msgs, "title", "public_key"),
		PastedKeyDiscarded: strings.TrimSpace(in.PublicKey) != "",
	}
	d, err := s.servicePageFor(r, rc, svc, "security")
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	if d.SSHKeys != nil {
		d.SSHKeys.Add, d.SSHKeys.Open = f, true
	}
	status, _ := statusOf(code)
	s.render(w, r, status, "service", d)
}

// removeSSHKeyPage is the data of ssh_key_remove.html, the confirmation
// without JavaScript; with it the same form opens in a modal.
type removeSSHKeyPage struct {
	base
	Service *rampart.Service
	Key     *rampart.SSHKey
}

func (s *server) sshKeyByID(r *http.Request, rc *reqCtx) (*rampart.SSHKey, error) {
	list, err := s.app.SSHKeys.List(r.Context(), rc.actor)
	if err != nil {
		return nil, err
	}
	for _, k := range list.Keys {
		if r.PathValue("id") == formatID(k.ID) {
			return k, nil
		}
	}
	return nil, rampart.Errorf(rampart.ENOTFOUND, "SSH key %q not found: it may have been removed already", r.PathValue("id"))
}

func formatID(id int64) string { return strconv.FormatInt(id, 10) }

func (s *server) removeSSHKeyPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, ok := s.sshKeysService(w, r, rc)
	if !ok {
		return
	}
	k, err := s.sshKeyByID(r, rc)
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	s.render(w, r, http.StatusOK, "ssh_key_remove", removeSSHKeyPage{base: rc.base("Remove SSH key "+k.Title, "services"), Service: svc, Key: k})
}

func (s *server) removeSSHKey(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, ok := s.sshKeysService(w, r, rc)
	if !ok {
		return
	}
	k, err := s.sshKeyByID(r, rc)
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	if _, err := s.app.SSHKeys.Remove(r.Context(), rc.actor, formatID(k.ID)); err != nil {
		s.fail(w, r, rc, err)
		return
	}
	msg := "SSH key " + k.Title + " removed (" + k.Fingerprint + ")."
	if list, err := s.app.SSHKeys.List(r.Context(), rc.actor); err == nil && list.Status.Enforced {
		msg += " It is taken out of " + list.Status.User + "'s authorized_keys now."
	}
	s.setFlash(w, rc.sess, "success", msg)
	http.Redirect(w, r, servicePath(svc.Name, "security")+"&open=ssh-keys#ssh-keys", http.StatusSeeOther)
}
