"""ecgbyte.viz"""
