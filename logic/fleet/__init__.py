"""Fleet domain operations: listing, detail and the few writes people make on drivers and trips."""
