package reports

import (
	"encoding/xml"
	"io"
)

const xmlHeader = xml.Header

func xmlEncoder(w io.Writer) *xml.Encoder {
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	return enc
}
