"""ecgbyte.io"""
