package client

import (
	"context"
	"testing"

	"github.com/rampart-dev/rampart"
)

func TestDomains(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	c := s.client(t, s.alice)
	if _, err := c.CreateService(ctx, rampart.ServiceInput{Name: "shop", Upstreams: []string{"http://127.0.0.1:8080"}}); err != nil {
		t.Fatal(err)
	}
	d, err := c.AddDomain(ctx, "shop", rampart.DomainInput{Name: "Shop.Example.com"})
	if err != nil || d.Name != "shop.example.com" || d.TLSMode != rampart.TLSManaged || d.State != rampart.DomainWaitingForDNS {
		t.Fatalf("AddDomain = %+v, %v", d, err)
	}
	_, err = c.AddDomain(ctx, "shop", rampart.DomainInput{Name: "https://x.example.com/"})
	wantAPIError(t, err, rampart.EINVALID, "is a URL")
	list, err := c.ListDomains(ctx, "shop")
	if err != nil || len(list) != 1 || list[0].Name != "shop.example.com" {
		t.Fatalf("ListDomains = %+v, %v", list, err)
	}
	got, err := c.GetDomain(ctx, "shop", "SHOP.example.com")
	if err != nil || got.Name != "shop.example.com" || got.Challenge != d.Challenge || len(got.Challenge.Value) != 32 {
		t.Fatalf("GetDomain = %+v, %v; want the domain with its challenge %+v", got, err, d.Challenge)
	}
	_, err = c.GetDomain(ctx, "shop", "nope.example.com")
	wantAPIError(t, err, rampart.ENOTFOUND, "not on the list of shop")
	// This server has no DNS checker.
	_, err = c.CheckDomain(ctx, "shop", "shop.example.com")
	wantAPIError(t, err, rampart.EINVALID, "no DNS checker")
	if err := c.RemoveDomain(ctx, "shop", "shop.example.com"); err != nil {
		t.Fatal(err)
	}
	wantAPIError(t, c.RemoveDomain(ctx, "shop", "shop.example.com"), rampart.ENOTFOUND, "not on the list of shop")
}
