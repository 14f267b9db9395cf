package awsproxy

import "testing"

func TestXMLEdits(t *testing.T) {
	const body = `<R><DBSnapshots><DBSnapshot><DBSnapshotIdentifier>a&amp;b</DBSnapshotIdentifier><Status>available</Status><TagList/></DBSnapshot>` +
		`<DBSnapshot attr="1"><DBSnapshotIdentifier>c</DBSnapshotIdentifier></DBSnapshot></DBSnapshots></R>`
	var ids []string
	got := rewriteElements([]byte(body), "DBSnapshot", func(elem []byte) []byte {
		id, _ := xmlChild(elem, "DBSnapshotIdentifier")
		ids = append(ids, id)
		if id == "c" {
			return nil
		}
		elem = xmlSet(elem, "Status", "creating")
		elem = xmlSet(elem, "PercentProgress", "5")
		return xmlRemove(elem, "TagList")
	})
	want := `<R><DBSnapshots><DBSnapshot><DBSnapshotIdentifier>a&amp;b</DBSnapshotIdentifier><Status>creating</Status><PercentProgress>5</PercentProgress></DBSnapshot></DBSnapshots></R>`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if len(ids) != 2 || ids[0] != "a&b" || ids[1] != "c" {
		t.Errorf("ids %q", ids)
	}
	if _, ok := xmlChild([]byte("<DBSnapshot/>"), "Status"); ok {
		t.Error("found a child that is not there")
	}
}
