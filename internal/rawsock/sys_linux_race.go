//go:build linux && race

package rawsock

import "syscall"

// Under the race detector, the annotated calls: the detector learns that
// what one end wrote before a write happens before what the other end does
// after the matching read, as it does for a *net.TCPConn.
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Read(int(fd), p)
	return n, errno(err)
}

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Write(int(fd), p)
	return n, errno(err)
}

func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	return err.(syscall.Errno)
}
