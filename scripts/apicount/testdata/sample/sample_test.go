package sample

func TestOnly() {}
