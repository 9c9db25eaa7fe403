package app

import (
	"context"
	"fmt"
	"strconv"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/limits"
	"github.com/rampart-dev/rampart/internal/store"
)

// The checks below run inside the transaction of the insert they guard:
// the store serializes write transactions, so two concurrent creates by one
// member cannot both count the same free slot.

// quotaExceeded says which quota stopped the caller and what to do. ECONFLICT
// because the request clashes with what the account already holds, not with
// who the caller is.
func quotaExceeded(have string, per, key, undo string) error {
	return rampart.Errorf(rampart.ECONFLICT,
		"%s, the most this server allows per %s (quotas.%s): %s, or ask an admin to raise the quota", have, per, key, undo)
}

// countOf agrees the noun with n, since a quota may be set as low as 1.
func countOf(n int, noun string) string {
	if n != 1 {
		noun += "s"
	}
	return strconv.Itoa(n) + " " + noun
}

// normalizeQuotas fills unset quotas with the defaults: Options' zero value
// must work, and a quota of 0 would refuse members everything.
func normalizeQuotas(q limits.Quotas) limits.Quotas {
	def := limits.DefaultQuotas()
	for _, p := range []struct{ got, def *int }{
		{&q.ServicesPerAccount, &def.ServicesPerAccount},
		{&q.DomainsPerService, &def.DomainsPerService},
		{&q.DomainsPerAccount, &def.DomainsPerAccount},
		{&q.TokensPerAccount, &def.TokensPerAccount},
	} {
		if *p.got <= 0 {
			*p.got = *p.def
		}
	}
	return q
}

func (c *core) checkServiceQuota(ctx context.Context, st store.Store, actor Actor, ownerID int64) error {
	if actor.isAdmin() {
		return nil
	}
	svcs, err := st.ListServices(ctx, store.ServiceFilter{OwnerID: ownerID})
	if err != nil {
		return err
	}
	// Deleted services waiting out their grace period keep their backups
	// and names: they do not count as services, but no more of them than
	// the quota again, so that creating and deleting cannot pile them up.
	var live, deleted int
	for _, s := range svcs {
		if s.State == rampart.StateDeleted {
			deleted++
		} else {
			live++
		}
	}
	limit := c.opts.Quotas.ServicesPerAccount
	if live >= limit {
		return quotaExceeded("you have "+countOf(live, "service"), "account", "services_per_account", "delete one")
	}
	if live+deleted >= 2*limit {
		return quotaExceeded(fmt.Sprintf("you have %s and %s waiting for their purge", countOf(live, "service"), countOf(deleted, "deleted service")), "account", "services_per_account", "wait for the purge of a deleted service")
	}
	return nil
}

func (c *core) checkDomainQuota(ctx context.Context, st store.Store, actor Actor, svc *rampart.Service) error {
	if actor.isAdmin() {
		return nil
	}
	owned, err := st.ListServices(ctx, store.ServiceFilter{OwnerID: svc.OwnerID})
	if err != nil {
		return err
	}
	ids := make(map[int64]bool, len(owned))
	for _, s := range owned {
		ids[s.ID] = true
	}
	all, err := st.ListDomains(ctx, store.DomainFilter{})
	if err != nil {
		return err
	}
	var onService, onAccount int
	for _, d := range all {
		if d.ServiceID == svc.ID {
			onService++
		}
		if ids[d.ServiceID] {
			onAccount++
		}
	}
	if limit := c.opts.Quotas.DomainsPerService; onService >= limit {
		return quotaExceeded("service "+svc.Name+" has "+countOf(onService, "domain"), "service", "domains_per_service", "remove one")
	}
	if limit := c.opts.Quotas.DomainsPerAccount; onAccount >= limit {
		return quotaExceeded("you have "+countOf(onAccount, "domain")+" across your services", "account", "domains_per_account", "remove one")
	}
	return nil
}

func (c *core) checkTokenQuota(ctx context.Context, st store.Store, actor Actor, userID int64) error {
	if actor.isAdmin() {
		return nil
	}
	toks, err := st.ListTokens(ctx, userID)
	if err != nil {
		return err
	}
	if n, limit := len(toks), c.opts.Quotas.TokensPerAccount; n >= limit {
		// Expired tokens are still rows until someone deletes them.
		return quotaExceeded("you have "+countOf(n, "API token"), "account", "tokens_per_account", "have an unused one deleted (expired ones count too)")
	}
	return nil
}
