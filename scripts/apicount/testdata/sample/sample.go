// Package sample is apicount's test input.
package sample

type T struct{ Field int }

func (T) M()       {}
func (*T) P()      {}
func (T) private() {}

type hidden struct{}

func (hidden) Exported() {}

type G[K any] struct{}

func (G[K]) Get() {}

type I interface{ Method() }

const A, b = 1, 2

var V int

func F() {}
