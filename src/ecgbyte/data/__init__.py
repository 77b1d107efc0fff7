"""ecgbyte.data"""
