package configrepo

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Service is a service of metadata.json.
type Service struct {
	ID           string
	Title        string
	DataSourceID string // names a DataSource of datasources.json
}

// Layer is a layer of metadata.json.
type Layer struct {
	ID           string
	ServiceID    string // names a Service
	Title        string
	Description  string
	GeometryType string // one of GeometryTypes; "" when absent
	SRID         int    // 0 when absent
	Storage      Storage
	Fields       []Field
}

// Storage is where a layer's features are stored.
type Storage struct {
	Table          string
	GeometryColumn string
	PrimaryKey     string
}

// Field is an attribute of a layer.
type Field struct {
	Name  string
	Type  string
	Alias string
}

// DataSource is a data source of datasources.json.
type DataSource struct {
	ID         string
	Provider   string
	Connection map[string]any // nil when absent
}

// GeometryTypes are the values a layer's geometryType may take.
var GeometryTypes = []string{"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"}

// checker validates the nodes of one file.
type checker struct{ reporter }

func (c checker) object(n *node, path string) bool {
	if n.kind != kindObject {
		c.at(n.pos, path, "must be an object, got %s", n.describe())
		return false
	}
	return true
}

func (c checker) list(n *node, path string) bool {
	if n.kind != kindList {
		c.at(n.pos, path, "must be a list, got %s", n.describe())
		return false
	}
	return true
}

// str returns the string at obj[key] and its node. A missing key is a
// problem when required, and so is an empty required string; a value of
// another type always is. The node is nil when the value is not a string.
func (c checker) str(obj *node, key, path string, required bool) (string, *node) {
	p := jsonPath(path, key)
	n := obj.get(key)
	switch {
	case n == nil:
		if required {
			c.at(obj.pos, p, "is required")
		}
		return "", nil
	case n.kind != kindString:
		c.at(n.pos, p, "must be a string, got %s", n.describe())
		return "", nil
	case required && n.str == "":
		c.at(n.pos, p, "must not be empty")
		return "", nil
	}
	return n.str, n
}

// firstSeen remembers where each id was first defined, to report duplicates.
type firstSeen map[string]string

// unique records the id held by item[key] at n, and reports it when it was
// already defined.
func (c checker) unique(seen firstSeen, what, id string, n *node, item, key string) {
	if first, dup := seen[id]; dup {
		c.at(n.pos, jsonPath(item, key), "duplicate %s %q (first at %s)", what, id, first)
		return
	}
	seen[id] = fmt.Sprintf("%s, line %d", item, n.pos.line)
}

// checkMetadata validates metadata.json and returns its typed view.
// dataSources holds the data source ids; nil when datasources.json could not
// be read, and then references to data sources are not checked.
func checkMetadata(c checker, root *node, dataSources map[string]bool, dsFile string) ([]Service, []Layer) {
	if !c.object(root, "") {
		return nil, nil
	}
	var services []Service
	serviceIDs := firstSeen{}
	if l := root.get("services"); l != nil && c.list(l, "services") {
		for i, it := range l.items {
			p := indexPath("services", i)
			if !c.object(it, p) {
				continue
			}
			var s Service
			var idn, dsn *node
			s.ID, idn = c.str(it, "id", p, true)
			if idn != nil {
				c.unique(serviceIDs, "service id", s.ID, idn, p, "id")
			}
			s.Title, _ = c.str(it, "title", p, false)
			s.DataSourceID, dsn = c.str(it, "dataSourceId", p, true)
			if dsn != nil && dataSources != nil && !dataSources[s.DataSourceID] {
				c.at(dsn.pos, jsonPath(p, "dataSourceId"), "data source %q is not defined in %s", s.DataSourceID, dsFile)
			}
			services = append(services, s)
		}
	}
	var layers []Layer
	layerIDs := firstSeen{}
	if l := root.get("layers"); l != nil && c.list(l, "layers") {
		for i, it := range l.items {
			p := indexPath("layers", i)
			if !c.object(it, p) {
				continue
			}
			layers = append(layers, c.layer(it, p, layerIDs, serviceIDs))
		}
	}
	return services, layers
}

func (c checker) layer(it *node, p string, layerIDs, serviceIDs firstSeen) Layer {
	var l Layer
	var idn, svn, gtn *node
	l.ID, idn = c.str(it, "id", p, true)
	if idn != nil {
		c.unique(layerIDs, "layer id", l.ID, idn, p, "id")
	}
	l.ServiceID, svn = c.str(it, "serviceId", p, true)
	if _, ok := serviceIDs[l.ServiceID]; svn != nil && !ok {
		c.at(svn.pos, jsonPath(p, "serviceId"), "service %q is not defined in services", l.ServiceID)
	}
	l.Title, _ = c.str(it, "title", p, false)
	l.Description, _ = c.str(it, "description", p, false)
	l.GeometryType, gtn = c.str(it, "geometryType", p, false)
	if gtn != nil && !slices.Contains(GeometryTypes, l.GeometryType) {
		c.at(gtn.pos, jsonPath(p, "geometryType"), "must be one of %s, got %s", strings.Join(GeometryTypes, ", "), gtn.describe())
	}
	if n := it.get("srid"); n != nil {
		if n.kind != kindNumber || !n.isInt || n.num < 1 || n.num > math.MaxInt32 {
			c.at(n.pos, jsonPath(p, "srid"), "must be a positive integer, got %s", n.describe())
		} else {
			l.SRID = int(n.num)
		}
	}
	if n := it.get("storage"); n != nil && c.object(n, jsonPath(p, "storage")) {
		sp := jsonPath(p, "storage")
		l.Storage.Table, _ = c.str(n, "table", sp, false)
		l.Storage.GeometryColumn, _ = c.str(n, "geometryColumn", sp, false)
		l.Storage.PrimaryKey, _ = c.str(n, "primaryKey", sp, false)
	}
	if n := it.get("fields"); n != nil && c.list(n, jsonPath(p, "fields")) {
		names := firstSeen{}
		for j, fn := range n.items {
			fp := indexPath(jsonPath(p, "fields"), j)
			if !c.object(fn, fp) {
				continue
			}
			var f Field
			var nn *node
			f.Name, nn = c.str(fn, "name", fp, true)
			if nn != nil {
				c.unique(names, "field name", f.Name, nn, fp, "name")
			}
			f.Type, _ = c.str(fn, "type", fp, false)
			f.Alias, _ = c.str(fn, "alias", fp, false)
			l.Fields = append(l.Fields, f)
		}
	}
	return l
}

// checkDataSources validates datasources.json and returns its typed view
// and the set of data source ids (nil when the file is not an object).
func checkDataSources(c checker, root *node) ([]DataSource, map[string]bool) {
	if !c.object(root, "") {
		return nil, nil
	}
	var sources []DataSource
	ids := map[string]bool{}
	seen := firstSeen{}
	if l := root.get("dataSources"); l != nil && c.list(l, "dataSources") {
		for i, it := range l.items {
			p := indexPath("dataSources", i)
			if !c.object(it, p) {
				continue
			}
			var ds DataSource
			var idn *node
			ds.ID, idn = c.str(it, "id", p, true)
			if idn != nil {
				c.unique(seen, "data source id", ds.ID, idn, p, "id")
				ids[ds.ID] = true
			}
			ds.Provider, _ = c.str(it, "provider", p, false)
			if n := it.get("connection"); n != nil && c.object(n, jsonPath(p, "connection")) {
				ds.Connection, _ = n.value().(map[string]any)
			}
			c.noSecrets(it, p)
			sources = append(sources, ds)
		}
	}
	return sources, ids
}

// secretKeys are the keys, lowercased and without - and _, that hold a
// secret, with the name the message suggests for them.
var secretKeys = map[string]string{
	"password": "password", "passwd": "password", "pwd": "password",
	"secret": "secret", "token": "token", "apikey": "apiKey",
}

// connStringPassword matches a password in a keyword connection string:
// "Host=db;Password=x" or "host=db password=x".
var connStringPassword = regexp.MustCompile(`(?i)(?:^|[;\s])(?:password|pwd)\s*=\s*[^;\s]`)

// noSecrets reports every literal secret under n: a value of a secret key,
// or a connection string or URL that carries a password. Messages never
// repeat the secret.
func (c checker) noSecrets(n *node, path string) {
	switch n.kind {
	case kindObject:
		for _, f := range n.fields {
			p := jsonPath(path, f.key)
			norm := strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(f.key))
			if name, ok := secretKeys[norm]; ok && isLiteral(f.val) {
				c.at(f.val.pos, p, "secrets must not be stored in the repository; name an environment variable (%sEnv) or a file (%sFile)", name, name)
				continue
			}
			c.noSecrets(f.val, p)
		}
	case kindList:
		for i, it := range n.items {
			c.noSecrets(it, indexPath(path, i))
		}
	case kindString:
		if connStringPassword.MatchString(n.str) || urlHasPassword(n.str) {
			c.at(n.pos, path, "secrets must not be stored in the repository; this connection string holds a password: name an environment variable (passwordEnv) or a file (passwordFile) instead")
		}
	}
}

// isLiteral reports whether n holds a value itself, rather than nothing or a
// structure to look into.
func isLiteral(n *node) bool {
	switch n.kind {
	case kindString:
		return n.str != ""
	case kindNumber, kindBool:
		return true
	}
	return false
}

func urlHasPassword(s string) bool {
	if !strings.Contains(s, "://") {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return false
	}
	pw, ok := u.User.Password()
	return ok && pw != ""
}
