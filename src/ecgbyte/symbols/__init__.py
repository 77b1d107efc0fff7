"""ecgbyte.symbols"""
