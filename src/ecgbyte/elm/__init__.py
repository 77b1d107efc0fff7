"""ecgbyte.elm"""
