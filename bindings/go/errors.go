package cacheness

import (
	"errors"
	"strconv"
)

// Code is the kind of a failure: the C ABI's cacheness_code.
type Code int

// The codes of the C ABI (cacheness_code). CodeOK never appears in an *Error.
const (
	CodeOK              Code = 0
	CodeNotFound        Code = 1
	CodeInvalidArgument Code = 2
	CodeExists          Code = 3
	CodeConflict        Code = 4
	CodeCorrupt         Code = 5
	CodeIO              Code = 6
	CodeBackend         Code = 7
	CodeBusy            Code = 8
	CodeTooLarge        Code = 9
	CodePanic           Code = 10
)

var codeNames = [...]string{
	CodeOK:              "OK",
	CodeNotFound:        "NOT_FOUND",
	CodeInvalidArgument: "INVALID_ARGUMENT",
	CodeExists:          "EXISTS",
	CodeConflict:        "CONFLICT",
	CodeCorrupt:         "CORRUPT",
	CodeIO:              "IO",
	CodeBackend:         "BACKEND",
	CodeBusy:            "BUSY",
	CodeTooLarge:        "TOO_LARGE",
	CodePanic:           "PANIC",
}

// String returns the code's name as the C header spells it, less the
// CACHENESS_ prefix ("CONFLICT").
func (c Code) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "Code(" + strconv.Itoa(int(c)) + ")"
}

// Error is a failure reported by the library (or found by this package before
// calling it, such as params that cannot be encoded as JSON). Code says what
// kind of failure it is and Message what exactly was wrong.
//
// Compare with the sentinels through errors.Is:
//
//	if errors.Is(err, cacheness.ErrConflict) { ... }
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "cacheness: " + e.Code.String()
	}
	return "cacheness: " + e.Code.String() + ": " + e.Message
}

// Is reports whether target is an *Error with the same code and either no
// message (the sentinels) or the same message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || t == nil || e == nil {
		return false
	}
	return t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// Sentinels, one per code: errors.Is(err, ErrConflict) is true for every
// *Error whose Code is CodeConflict.
var (
	ErrNotFound        = &Error{Code: CodeNotFound}
	ErrInvalidArgument = &Error{Code: CodeInvalidArgument}
	ErrExists          = &Error{Code: CodeExists}
	ErrConflict        = &Error{Code: CodeConflict}
	ErrCorrupt         = &Error{Code: CodeCorrupt}
	ErrIO              = &Error{Code: CodeIO}
	ErrBackend         = &Error{Code: CodeBackend}
	ErrBusy            = &Error{Code: CodeBusy}
	ErrTooLarge        = &Error{Code: CodeTooLarge}
	ErrPanic           = &Error{Code: CodePanic}
)

// ErrClosed is returned by every method of a Cache or Store after Close.
var ErrClosed = errors.New("cacheness: use of a closed handle")

// invalid makes an ErrInvalidArgument error for a problem found on the Go side.
func invalid(msg string) error {
	return &Error{Code: CodeInvalidArgument, Message: msg}
}
