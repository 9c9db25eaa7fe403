package backup_test

import (
	"strconv"
	"syscall"
)

func syscallMkfifo(p string) error { return syscall.Mkfifo(p, 0o600) }

func strconvOct(m int64) string { return "0" + strconv.FormatInt(m, 8) }
