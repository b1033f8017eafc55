"""A CAR-T unit: many patients in one SimPy environment, sharing apheresis, manufacturing,
LD chairs, ward beds and ICU beds (``cartsim clinic``)."""
