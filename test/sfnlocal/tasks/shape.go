package tasks

import (
	"reflect"
	"time"
)

// Shape converts an AWS SDK value (output structs, types.*) into the JSON shape Step
// Functions gives service-integration results: members under their PascalCase API
// names, timestamps as epoch milliseconds, unset members left out.
func Shape(v any) any {
	return shape(reflect.ValueOf(v))
}

var timeType = reflect.TypeOf(time.Time{})

func shape(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return shape(v.Elem())
	}
	if v.Type() == timeType {
		return v.Interface().(time.Time).UnixMilli()
	}
	switch v.Kind() {
	case reflect.Struct:
		m := map[string]any{}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || f.Name == "ResultMetadata" {
				continue
			}
			fv := v.Field(i)
			if (fv.Kind() == reflect.Pointer || fv.Kind() == reflect.Interface || fv.Kind() == reflect.Slice || fv.Kind() == reflect.Map) && fv.IsNil() {
				continue
			}
			if fv.Kind() == reflect.String && fv.Len() == 0 && f.Type.Name() != "string" {
				continue // unset enum
			}
			m[f.Name] = shape(fv)
		}
		return m
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return v.Bytes() // base64, as JSON blobs are
		}
		out := make([]any, v.Len())
		for i := range v.Len() {
			out[i] = shape(v.Index(i))
		}
		return out
	case reflect.Map:
		out := map[string]any{}
		iter := v.MapRange()
		for iter.Next() {
			out[iter.Key().String()] = shape(iter.Value())
		}
		return out
	case reflect.String:
		return v.String()
	}
	return v.Interface()
}
