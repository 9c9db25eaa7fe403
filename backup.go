package rampart

import "time"

// BackupKind says why a backup was taken.
type BackupKind string

const (
	BackupScheduled  BackupKind = "scheduled"   // the daily backup; retention applies
	BackupManual     BackupKind = "manual"      // `rampart backup create`, the Backups tab
	BackupFinal      BackupKind = "final"       // taken by delete; kept until the purge
	BackupPreReset   BackupKind = "pre-reset"   // taken by reset before the data is wiped
	BackupPreRestore BackupKind = "pre-restore" // taken before a restore replaces live data
)

// Backup is one archive of a service's data directory and configuration
// in the backup store. The archive carries a manifest with each file's
// SHA-256; SHA256 here is the whole archive's, checked before a restore
// changes anything.
type Backup struct {
	ID        int64      `json:"id"`
	ServiceID int64      `json:"service_id"`
	Service   string     `json:"service"`
	Kind      BackupKind `json:"kind"`
	// Key names the archive in the backup store.
	Key string `json:"key"`
	// Size is the archive's size; DataBytes what it holds uncompressed.
	Size      int64     `json:"size"`
	DataBytes int64     `json:"data_bytes"`
	Files     int       `json:"files"`
	SHA256    string    `json:"sha256"`
	CreatedAt time.Time `json:"created_at"`
}

// DefaultDeleteGrace is how long a deleted service can be restored: the
// seed's 7 days.
const DefaultDeleteGrace = 7 * 24 * time.Hour

// BackupList is the body of GET /api/v1/services/{name}/backups.
type BackupList struct {
	Backups []*Backup `json:"backups"`
}

// RestoreInput is the body of POST /api/v1/services/{name}/restore.
type RestoreInput struct {
	// BackupID names the backup whose data to restore; 0: the final
	// backup of a deleted service. A live service needs one.
	BackupID int64 `json:"backup_id,omitempty"`
}

// VersionInput is the body of PUT /api/v1/services/{name}/version.
type VersionInput struct {
	Version string `json:"version"`
}
