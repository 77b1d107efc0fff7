"""ecgbyte.eval"""
