package app

import (
	"context"
	"slices"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// Termination protection: while a service's protection is on, every
// action that could lose the service or its data is refused here, in the
// service layer, whichever door (API, CLI, dashboard) it came through.
// Each such action calls refuseIfProtected with its name before it
// changes anything, and again inside the transaction that commits it, so
// that protection turned on meanwhile still wins.

// Names of the protected actions, as refusals say them: the seed's "change
// version", "delete", "shut down", "power off", "reset" and "reboot".
const (
	actionDelete     = "delete"
	actionStop       = "stop"
	actionKill       = "kill"
	actionRestart    = "restart"
	actionReset      = "reset"
	actionSetVersion = "set-version"
)

// protectedActions are the actions termination protection refuses.
var protectedActions = []string{actionDelete, actionStop, actionKill, actionRestart, actionReset, actionSetVersion}

// ProtectedActions lists the actions termination protection refuses, for
// the dashboard and the help texts.
func ProtectedActions() []string { return slices.Clone(protectedActions) }

// refuseIfProtected returns ETERMPROTECTED when svc's termination
// protection is on and action is one it guards.
func refuseIfProtected(svc *rampart.Service, action string) error {
	if !svc.TerminationProtection || !slices.Contains(protectedActions, action) {
		return nil
	}
	return rampart.Errorf(rampart.ETERMPROTECTED,
		"%s has termination protection on: turn it off first (rampart service protect %s off, or the Overview tab's toggle), then %s it",
		svc.Name, svc.Name, action)
}

// SetTerminationProtection turns the named service's termination
// protection on or off. The owner or an admin may; others are told the
// service does not exist. Setting what is already set changes nothing
// and writes no audit event.
func (s *Services) SetTerminationProtection(ctx context.Context, actor Actor, name string, on bool) (*rampart.Service, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	var svc *rampart.Service
	err := s.store.InTx(ctx, func(st store.Store) error {
		var err error
		if svc, err = s.liveService(ctx, st, actor, name); err != nil {
			return err
		}
		if svc.TerminationProtection == on {
			return nil
		}
		svc.TerminationProtection = on
		if err := st.UpdateService(ctx, svc); err != nil {
			return err
		}
		action := "service.protection.off"
		if on {
			action = "service.protection.on"
		}
		return s.audit(ctx, st, actor, action, svc, "")
	})
	if err != nil {
		return nil, err
	}
	return svc, nil
}
