package app

import (
	"slices"
	"sync"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
)

// properties is org.freedesktop.DBus.Properties for the MPRIS object.
// godbus's prop package stores a new value into the old one in place (a
// map is updated entry by entry) while a Get's reply holding that same map
// may still be encoding on another goroutine: a data race, and with a
// map a fatal "concurrent map read and map write". Here a change replaces
// the value whole under a mutex, and nothing stored is ever modified, so a
// reply can encode what it got at leisure.
type properties struct {
	conn *dbus.Conn
	path dbus.ObjectPath

	mu   sync.Mutex
	vals map[string]map[string]any // interface → name → value
	// silent names properties whose changes are not signalled (Position:
	// clients compute it from the rate).
	silent map[string]bool
	// setters are the writable properties.
	setters map[string]func(dbus.Variant) *dbus.Error
}

func newProperties(conn *dbus.Conn, path dbus.ObjectPath, vals map[string]map[string]any) *properties {
	return &properties{conn: conn, path: path, vals: vals, silent: map[string]bool{}, setters: map[string]func(dbus.Variant) *dbus.Error{}}
}

// Get implements org.freedesktop.DBus.Properties.Get.
func (p *properties) Get(iface, name string) (dbus.Variant, *dbus.Error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.vals[iface][name]
	if !ok {
		return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.UnknownProperty", []any{iface + "." + name})
	}
	return dbus.MakeVariant(v), nil
}

// GetAll implements org.freedesktop.DBus.Properties.GetAll.
func (p *properties) GetAll(iface string) (map[string]dbus.Variant, *dbus.Error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]dbus.Variant{}
	for name, v := range p.vals[iface] {
		out[name] = dbus.MakeVariant(v)
	}
	return out, nil
}

// Set implements org.freedesktop.DBus.Properties.Set: writable properties
// go to their setter, which changes the player (the value follows with
// the next update).
func (p *properties) Set(iface, name string, v dbus.Variant) *dbus.Error {
	p.mu.Lock()
	f := p.setters[iface+"."+name]
	p.mu.Unlock()
	if f == nil {
		return dbus.NewError("org.freedesktop.DBus.Error.PropertyReadOnly", []any{iface + "." + name})
	}
	return f(v)
}

// set replaces a property's value and signals the change. v must not be
// modified afterwards.
func (p *properties) set(iface, name string, v any) error {
	p.mu.Lock()
	p.vals[iface][name] = v
	silent := p.silent[iface+"."+name]
	p.mu.Unlock()
	if silent {
		return nil
	}
	return p.conn.Emit(p.path, "org.freedesktop.DBus.Properties.PropertiesChanged",
		iface, map[string]dbus.Variant{name: dbus.MakeVariant(v)}, []string{})
}

// introspection describes iface's properties.
func (p *properties) introspection(iface string) []introspect.Property {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []introspect.Property
	for name, v := range p.vals[iface] {
		access := "read"
		if p.setters[iface+"."+name] != nil {
			access = "readwrite"
		}
		out = append(out, introspect.Property{Name: name, Type: dbus.SignatureOf(v).String(), Access: access})
	}
	slices.SortFunc(out, func(a, b introspect.Property) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// propertiesIntrospection is the org.freedesktop.DBus.Properties interface.
var propertiesIntrospection = introspect.Interface{
	Name: "org.freedesktop.DBus.Properties",
	Methods: []introspect.Method{
		{Name: "Get", Args: []introspect.Arg{{Name: "interface", Type: "s", Direction: "in"}, {Name: "property", Type: "s", Direction: "in"}, {Name: "value", Type: "v", Direction: "out"}}},
		{Name: "GetAll", Args: []introspect.Arg{{Name: "interface", Type: "s", Direction: "in"}, {Name: "props", Type: "a{sv}", Direction: "out"}}},
		{Name: "Set", Args: []introspect.Arg{{Name: "interface", Type: "s", Direction: "in"}, {Name: "property", Type: "s", Direction: "in"}, {Name: "value", Type: "v", Direction: "in"}}},
	},
	Signals: []introspect.Signal{{Name: "PropertiesChanged", Args: []introspect.Arg{{Name: "interface", Type: "s", Direction: "out"}, {Name: "changed_properties", Type: "a{sv}", Direction: "out"}, {Name: "invalidates_properties", Type: "as", Direction: "out"}}}},
}
