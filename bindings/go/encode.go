package cacheness

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// timeLayout is how the library writes times: RFC 3339, UTC, milliseconds.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// maxSafeInt is 2^53-1: the library rejects integer literals in params beyond it.
const maxSafeInt = 1<<53 - 1

// encodeJSON encodes v (params, a filter, options, metadata) as the library
// expects it. Compared with json.Marshal it
//   - writes a float64/float32 that is a whole number beyond 2^53-1 in exponent
//     form ("1.2345678901234568e+20"): json.Marshal would print it as an integer
//     literal, which the library refuses in params (integers that large collide);
//   - writes a time.Time as RFC 3339 UTC with milliseconds, the library's format;
//   - refuses strings and member names that are not valid UTF-8 (json.Marshal
//     would silently replace the bad bytes, so two different params could share
//     a key);
//   - does not escape <, > and & (the bytes are the same JSON value anyway).
//
// Errors are *Error with CodeInvalidArgument.
func encodeJSON(v any) (string, error) {
	v, _, err := normalize(v)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", invalid("cannot encode as JSON: " + err.Error())
	}
	b := buf.Bytes()
	return string(b[:len(b)-1]), nil // Encode appends a newline
}

// encodeObject encodes a map as a JSON object; a nil map is {}.
func encodeObject(m map[string]any) (string, error) {
	if m == nil {
		return "{}", nil
	}
	return encodeJSON(m)
}

// normalize returns v with the values encodeJSON treats specially replaced,
// and whether anything changed. It copies a map or slice only when something
// inside it changes, so the common case allocates nothing.
func normalize(v any) (any, bool, error) {
	switch x := v.(type) {
	case string:
		if !utf8.ValidString(x) {
			return nil, false, invalid("string is not valid UTF-8: " + strconv.Quote(x))
		}
		return v, false, nil
	case float64:
		return normFloat(x)
	case float32:
		return normFloat(float64(x))
	case time.Time:
		return x.UTC().Format(timeLayout), true, nil
	case *time.Time:
		if x == nil {
			return nil, false, nil
		}
		return x.UTC().Format(timeLayout), true, nil
	case map[string]any:
		var out map[string]any
		for k, e := range x {
			if !utf8.ValidString(k) {
				return nil, false, invalid("member name is not valid UTF-8: " + strconv.Quote(k))
			}
			n, changed, err := normalize(e)
			if err != nil {
				return nil, false, err
			}
			if changed {
				if out == nil {
					out = make(map[string]any, len(x))
					for k2, e2 := range x {
						out[k2] = e2
					}
				}
				out[k] = n
			}
		}
		if out != nil {
			return out, true, nil
		}
		return v, false, nil
	case []any:
		var out []any
		for i, e := range x {
			n, changed, err := normalize(e)
			if err != nil {
				return nil, false, err
			}
			if changed {
				if out == nil {
					out = make([]any, len(x))
					copy(out, x)
				}
				out[i] = n
			}
		}
		if out != nil {
			return out, true, nil
		}
		return v, false, nil
	case []string:
		for _, s := range x {
			if !utf8.ValidString(s) {
				return nil, false, invalid("string is not valid UTF-8: " + strconv.Quote(s))
			}
		}
		return v, false, nil
	default:
		// nil, bool, ints, json.Number, structs, typed maps and slices:
		// encoding/json's rules.
		return v, false, nil
	}
}

func normFloat(f float64) (any, bool, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, false, invalid("NaN and infinities are not JSON numbers")
	}
	if f == math.Trunc(f) && math.Abs(f) > maxSafeInt {
		return json.Number(strconv.FormatFloat(f, 'e', -1, 64)), true, nil
	}
	return f, false, nil
}
