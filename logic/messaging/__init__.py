"""Reaching drivers beyond a call: in-cab messages and SMS, inbound replies, consent, contact plans.

Sits above `logic.calls` in the domain order (it reuses the calls' checks, insights and webhook
inbox; the calls domain never imports it).
"""
