"""ecgbyte.signal"""
