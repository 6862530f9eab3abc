// Package genesis owns the genesis file: the chain id, the genesis time, the
// chain parameters and the founding members of a Waterchain network —
// validator, auditor and observer nodes (by node key), regulators and
// industries (by account key, with their opening balances and permits).
//
// Every node of a network must hold the same genesis: its hash (see
// Genesis.Hash) is the PrevHash of height 1 of both lanes, so a node started
// with another genesis cannot follow the chain.
//
// Parse and Load return only valid geneses: they decode strictly (unknown or
// duplicate fields and trailing data are errors) and then run Validate, whose
// errors name the bad field and say how to fix it. A *Genesis must not be
// changed after it is parsed; build a new one and Validate it instead.
//
// The package imports only chain and the standard library; peer IDs and file
// layout belong to node/home.
package genesis
