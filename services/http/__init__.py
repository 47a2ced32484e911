"""The HTTP layer both apps share: the middleware stack (stack.py, outermost first), one error
shape, and the app factory that assembles them around the routers of services/."""
