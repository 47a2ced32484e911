"""Sandbox fixtures: the fake vendors served over real HTTP on a free local port."""
