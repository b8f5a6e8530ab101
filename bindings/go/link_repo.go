//go:build !cacheness_pkgconfig

package cacheness

// By default the package links the library built in this repository by
// `cargo build --release` (target/release), with an rpath so that `go test`
// needs no environment variables. Build with -tags cacheness_pkgconfig to use
// an installed library found through pkg-config instead (link_pkgconfig.go).

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -lcacheness -Wl,-rpath,${SRCDIR}/../../target/release
*/
import "C"
