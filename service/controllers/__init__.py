"""HTTP controllers: short handlers that validate, call one store function, and answer a Struct."""
