package awsproxy

import (
	"bytes"
	"encoding/xml"
)

// The XML helpers below edit moto's query-protocol answers in place, as
// bytes: they find elements by their exact tag name and assume an element
// does not contain another element of its own name, which holds for the RDS
// shapes scripted here (DBSnapshot, DBInstance and their fields).

// xmlSpan is the byte range of one element, tags included.
type xmlSpan struct{ start, end int }

// xmlElements finds the elements <name>…</name> (or <name attr…>…) in b.
func xmlElements(b []byte, name string) []xmlSpan {
	var spans []xmlSpan
	open, closing := []byte("<"+name), []byte("</"+name+">")
	for i := 0; ; {
		j := bytes.Index(b[i:], open)
		if j < 0 {
			return spans
		}
		start := i + j
		after := start + len(open)
		if after >= len(b) || (b[after] != '>' && b[after] != ' ') {
			i = after
			continue
		}
		k := bytes.Index(b[after:], closing)
		if k < 0 {
			return spans
		}
		end := after + k + len(closing)
		spans = append(spans, xmlSpan{start, end})
		i = end
	}
}

// rewriteElements replaces each <name> element of b with f's result; f
// returning nil removes the element.
func rewriteElements(b []byte, name string, f func(elem []byte) []byte) []byte {
	spans := xmlElements(b, name)
	if len(spans) == 0 {
		return b
	}
	var out bytes.Buffer
	last := 0
	for _, s := range spans {
		out.Write(b[last:s.start])
		out.Write(f(bytes.Clone(b[s.start:s.end])))
		last = s.end
	}
	out.Write(b[last:])
	return out.Bytes()
}

// xmlChild returns the text of elem's first <name> child, unescaped.
func xmlChild(elem []byte, name string) (string, bool) {
	spans := xmlElements(elem, name)
	if len(spans) == 0 {
		return "", false
	}
	inner := elem[spans[0].start:spans[0].end]
	inner = inner[bytes.IndexByte(inner, '>')+1 : len(inner)-len("</"+name+">")]
	var v struct {
		Text string `xml:",chardata"`
	}
	if err := xml.Unmarshal(append(append([]byte("<x>"), inner...), "</x>"...), &v); err != nil {
		return string(inner), true
	}
	return v.Text, true
}

// xmlSet sets the text of elem's first <name> child, adding the child
// before elem's closing tag when there is none.
func xmlSet(elem []byte, name, value string) []byte {
	return xmlSetInner(elem, name, xmlText(value))
}

// xmlSetInner is xmlSet with the child's content given as XML.
func xmlSetInner(elem []byte, name, inner string) []byte {
	field := []byte("<" + name + ">" + inner + "</" + name + ">")
	if spans := xmlElements(elem, name); len(spans) > 0 {
		s := spans[0]
		return append(append(elem[:s.start:s.start], field...), elem[s.end:]...)
	}
	end := bytes.LastIndex(elem, []byte("</"))
	if end < 0 {
		return elem
	}
	return append(append(elem[:end:end], field...), elem[end:]...)
}

// xmlRemove removes elem's first <name> child (or empty <name/>).
func xmlRemove(elem []byte, name string) []byte {
	if spans := xmlElements(elem, name); len(spans) > 0 {
		s := spans[0]
		return append(elem[:s.start:s.start], elem[s.end:]...)
	}
	return bytes.Replace(elem, []byte("<"+name+"/>"), nil, 1)
}
