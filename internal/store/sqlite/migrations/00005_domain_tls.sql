-- +goose Up
-- A domain's TLS mode and uploaded certificate can change in place
-- (`rampart domain update`, the dashboard's "Change TLS"). That changes what
-- the domains reconciler hands the certificate manager, so it bumps
-- services_version like adding or removing a domain; state updates still do
-- not.
-- +goose StatementBegin
CREATE TRIGGER domains_version_tls AFTER UPDATE OF tls_mode, cert_pem, key_pem ON domains
BEGIN
    UPDATE services_version SET version = version + 1 WHERE id = 1;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER domains_version_tls;
