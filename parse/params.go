package parse

import (
	"bytes"
	"errors"
	"strconv"
)

var paramsPrefix = []byte("parameters: ")

// errParams is deliberately vague: the input is production data and must
// not be echoed into messages.
var errParams = errors.New("malformed parameter list")

// ParseParams parses the DETAIL text PostgreSQL logs for bound parameters,
// `parameters: $1 = '42', $2 = NULL, $3 = 'it”s'`, into values. Values
// cut by log_parameter_max_length end in "..." inside the quotes; truncated
// reports whether any value looks cut that way.
func ParseParams(detail []byte) (params []Param, truncated bool, err error) {
	b, ok := bytes.CutPrefix(detail, paramsPrefix)
	if !ok {
		return nil, false, errParams
	}
	var buf []byte
	for n := 1; ; n++ {
		if len(b) == 0 || b[0] != '$' {
			return nil, false, errParams
		}
		i := 1
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		num, err := strconv.Atoi(string(b[1:i]))
		if err != nil || num != n {
			return nil, false, errParams
		}
		b = b[i:]
		if !bytes.HasPrefix(b, []byte(" = ")) {
			return nil, false, errParams
		}
		b = b[3:]
		switch {
		case bytes.HasPrefix(b, []byte("NULL")):
			params = append(params, Param{Null: true})
			b = b[4:]
		case len(b) > 0 && b[0] == '\'':
			buf = buf[:0]
			j := 1
			closed := false
			for j < len(b) {
				k := bytes.IndexByte(b[j:], '\'')
				if k < 0 {
					break
				}
				buf = append(buf, b[j:j+k]...)
				j += k + 1
				if j < len(b) && b[j] == '\'' {
					buf = append(buf, '\'')
					j++
					continue
				}
				closed = true
				break
			}
			if !closed {
				return nil, false, errParams
			}
			if bytes.HasSuffix(buf, []byte("...")) {
				truncated = true
			}
			params = append(params, Param{Value: string(buf)})
			b = b[j:]
		default:
			return nil, false, errParams
		}
		if len(b) == 0 {
			return params, truncated, nil
		}
		if !bytes.HasPrefix(b, []byte(", ")) {
			return nil, false, errParams
		}
		b = b[2:]
	}
}
