//go:build cacheness_pkgconfig

package cacheness

// With -tags cacheness_pkgconfig the header and library come from an installed
// copy described by cacheness.pc (set PKG_CONFIG_PATH if it is not in a
// standard place).

/*
#cgo pkg-config: cacheness
*/
import "C"
