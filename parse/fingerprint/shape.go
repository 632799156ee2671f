package fingerprint

// A statement's shape is its text with the values taken out: numbers,
// standard string literals and $n parameters each become a marker.
// Statements of one shape differ only in values, so they have one
// fingerprint, and the cache can answer by shape without lexing each one:
// a simple-protocol workload's texts are nearly all different, and its
// shapes are few.
//
// A shape must never join two statements the lexer tells apart. It takes
// out only what the normaliser takes out too, reads the text's tokens
// exactly as the lexer does where it takes anything out, and keeps all
// else as it stands (whitespace, keyword case, booleans and NULL, which
// the normaliser treats more coarsely). Where the lexer's reading is less
// plain (comments, dollar quotes, quoted identifiers, backslashes,
// prefixed strings, characters the lexer lets into identifiers, anything
// outside ASCII, anything unterminated) shape gives up and the text is
// lexed.

// Markers for the values a shape takes out, one per kind.
const (
	markNumber = 0x01
	markParam  = 0x02
	markString = 0x03
)

// shape appends the shape of text to buf; ok is false when the text has
// no shape the cache can trust.
func shape(buf []byte, text string) (key []byte, ok bool) {
	b := buf
	for i := 0; i < len(text); {
		c := text[i]
		end := i + 1
		switch {
		case c == '\'':
			if identAt(text, i-1) {
				// E'...', B'...', X'...', N'...'.
				return buf, false
			}
			if end = stringEnd(text, i); end < 0 {
				return buf, false
			}
			b = append(b, markString)
		case c == '$':
			if i+1 >= len(text) || text[i+1] < '0' || text[i+1] > '9' || identAt(text, i-1) {
				// A dollar quote, or a $ inside a word.
				return buf, false
			}
			for end < len(text) && text[end] >= '0' && text[end] <= '9' {
				end++
			}
			b = append(b, markParam)
		case c >= '0' && c <= '9' && !identAt(text, i-1):
			if c == '0' && i+1 < len(text) && (text[i+1] >= '0' && text[i+1] <= '9' || text[i+1] == 'x' || text[i+1] == 'X') {
				// Octal and hexadecimal to the lexer.
				return buf, false
			}
			end = numberEnd(text, i)
			b = append(b, markNumber)
		case plain(text, i):
			b = append(b, c)
		default:
			return buf, false
		}
		i = end
	}
	return b, true
}

// plain reports whether the byte at i is one the shape copies: letters,
// digits, whitespace, operators and punctuation, but not what starts a
// comment, a quoted identifier or something else the lexer reads its own
// way.
func plain(text string, i int) bool {
	c := text[i]
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	case c == '-' && i+1 < len(text) && text[i+1] == '-', c == '/' && i+1 < len(text) && text[i+1] == '*':
		return false
	}
	switch c {
	case ' ', '\t', '\n', '\r', '_', '.', '/', ',', ';', '(', ')', '[', ']', '{', '}', ':',
		'+', '-', '*', '=', '<', '>', '&', '|', '^', '%', '~':
		return true
	}
	return false
}

// identAt reports whether the byte at i continues a word for the lexer
// (an identifier also holds '.', '/' and '$', so "t.1" and "x/2" are one
// word): a digit after it is part of the word, not a number.
func identAt(text string, i int) bool {
	if i < 0 {
		return false
	}
	c := text[i]
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '/' || c == '$'
}

// stringEnd returns the end of the standard string literal at i ('it”s'),
// or -1 when it holds a backslash or a NUL or does not end. Within quotes
// any UTF-8 is fine.
func stringEnd(text string, i int) int {
	for j := i + 1; j < len(text); j++ {
		switch text[j] {
		case '\\', 0:
			// A NUL ends the text for the lexer.
			return -1
		case '\'':
			if j+1 < len(text) && text[j+1] == '\'' {
				j++
				continue
			}
			return j + 1
		}
	}
	return -1
}

// numberEnd returns the end of the number at i as the lexer reads it:
// digits, points and exponents (an e, and a sign after it) in any order.
func numberEnd(text string, i int) int {
	j := i
	for j < len(text) {
		switch c := text[j]; {
		case c >= '0' && c <= '9', c == '.':
			j++
		case c == 'e' || c == 'E':
			j++
			if j < len(text) && (text[j] == '+' || text[j] == '-') {
				j++
			}
		default:
			return j
		}
	}
	return j
}
